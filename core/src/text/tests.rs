//! `Text`'s tests: splitting against `str::split` (also as a property), inline and shared
//! pieces, the 16-byte layout and its niche, very long lines, hashing and serde against `str`.

use super::*;

#[test]
fn split_matches_str_split() {
    let long = "alpha beta  gamma-a-rather-long-word-over-thirty-bytes-long  δέλτα ";
    let buf = Arc::new(long.as_bytes().to_vec());
    let (t, _) = Text::from_shared(&buf, 0..buf.len());
    assert!(t.is_shared());
    let ours: Vec<String> = t.clone().split(' ').map(String::from).collect();
    let std: Vec<&str> = long.split(' ').collect();
    assert_eq!(ours, std);
    let ws: Vec<String> = t.split_whitespace().map(String::from).collect();
    assert_eq!(ws, long.split_whitespace().collect::<Vec<_>>());
}

proptest::proptest! {
    /// Splitting a (shared or inline) text gives exactly `str::split`'s pieces, each
    /// inline when short and a slice of the buffer when long.
    #[test]
    fn split_equals_str_split(
        s in "[ab é,δ😀xyz0-9]{0,80}",
        pad in 0usize..5,
        sep in proptest::sample::select(vec![' ', ',', 'é']),
    ) {
        let padded = format!("{}{s}", "-".repeat(pad));
        let buf = Arc::new(padded.as_bytes().to_vec());
        let (t, _) = Text::from_shared(&buf, pad..buf.len());
        let ours: Vec<Text> = t.clone().split(sep).collect();
        let want: Vec<&str> = s.split(sep).collect();
        // `fold` (what `flat_map` runs) walks its own loop: it must cut the same pieces.
        let folded = t.split(sep).fold(Vec::new(), |mut v, w| {
            v.push(w);
            v
        });
        proptest::prop_assert_eq!(&folded, &ours);
        proptest::prop_assert_eq!(ours.len(), want.len());
        for (piece, w) in ours.iter().zip(&want) {
            proptest::prop_assert_eq!(piece.as_str(), *w);
            proptest::prop_assert_eq!(piece.is_shared(), w.len() > Text::INLINE_CAPACITY);
            proptest::prop_assert_eq!(piece, &Text::from(*w));
        }
    }
}

#[test]
fn long_pieces_share_and_compact_detaches() {
    let line = "x".repeat(100) + " " + &"y".repeat(40);
    let buf = Arc::new(line.as_bytes().to_vec());
    let (t, _) = Text::from_shared(&buf, 0..buf.len());
    let pieces: Vec<Text> = t.split(' ').collect();
    assert!(pieces[1].is_shared());
    assert_eq!(Arc::strong_count(&buf), 3);
    let c = pieces[1].compact();
    assert_eq!(c, pieces[1]);
    drop(pieces);
    assert_eq!(Arc::strong_count(&buf), 1);
    assert_eq!(c.len(), 40);
}

#[test]
fn sixteen_bytes_with_a_niche_and_the_inline_boundary_at_15() {
    assert_eq!(std::mem::size_of::<Text>(), 16);
    assert_eq!(std::mem::size_of::<Option<Text>>(), 16);
    let line = format!("{} {}", "a".repeat(15), "b".repeat(16));
    let buf = Arc::new(line.clone().into_bytes());
    let (t, _) = Text::from_shared(&buf, 0..buf.len());
    let pieces: Vec<Text> = t.split(' ').collect();
    assert!(!pieces[0].is_shared() && pieces[1].is_shared());
    assert_eq!(pieces[0], Text::from("a".repeat(15)));
    assert_eq!(pieces[1], Text::from("b".repeat(16)));
    assert_eq!(pieces[1].slice(1..16), Text::from("b".repeat(15)));
    assert!(!pieces[1].slice(1..16).is_shared());
}

#[test]
#[cfg_attr(miri, ignore = "33 MB of bytes is too slow under Miri")]
fn pieces_of_16_mib_or_more_share_at_the_end_and_copy_in_the_middle() {
    let big = LEN_TO_END + 10;
    let mut bytes = vec![b'x'; 2 * big + 1];
    bytes[big] = b' ';
    let buf = Arc::new(bytes);
    let (line, _) = Text::from_shared(&buf, 0..buf.len());
    let pieces: Vec<Text> = line.clone().split(' ').collect();
    assert_eq!(pieces.len(), 2);
    assert!(
        pieces
            .iter()
            .all(|p| p.len() == big && p.bytes().all(|b| b == b'x'))
    );
    // The line and the last piece share; the first piece is a copy of its own.
    assert_eq!(Arc::strong_count(&buf), 3);
    assert_eq!(pieces[0], pieces[1]);
    drop((line, pieces));
    assert_eq!(Arc::strong_count(&buf), 1);
}

#[test]
fn equal_texts_hash_alike_and_serde_agrees_with_str() {
    let t = Text::from("word");
    let mut m = std::collections::HashMap::new();
    m.insert(t.clone(), 1);
    assert_eq!(m.get(&Text::from(String::from("word"))), Some(&1));
    assert_eq!(m.get(&Text::from("words")), None);
    // Equal texts hash alike whether owned, shared or sliced out of a longer line.
    let long = "a line longer than fifteen bytes";
    let buf = Arc::new(format!("{long},{long}").into_bytes());
    let (line, _) = Text::from_shared(&buf, 0..buf.len());
    let h = |t: &Text| crate::hash::partition_hash(t);
    let halves: Vec<Text> = line.clone().split(',').collect();
    assert!(halves[1].is_shared());
    assert_eq!(h(&halves[0]), h(&halves[1]));
    assert_eq!(h(&Text::from(long)), h(&halves[1]));
    assert_eq!(h(&Text::from("line")), h(&line.slice(2..6).compact()));
    assert_eq!(&*line.slice(2..6), "line");
    let bytes = bincode::serialize(&t).unwrap();
    assert_eq!(bytes, bincode::serialize("word").unwrap());
    let back: Text = bincode::deserialize(&bytes).unwrap();
    assert_eq!(back, t);
}

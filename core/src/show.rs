//! [`Show`]: how records are written as text, in Spark's style — `(word,3)` for a pair.
//!
//! Used by `save_as_text_file` and by the streaming `print`. Tuples print parenthesised with
//! commas and no spaces, `Option`s as `Some(x)`/`None`, and sequences as `[a, b]`.

use std::fmt::Write;

use crate::text::Text;

/// Writes a value as text the way Spark prints it.
///
/// # Examples
///
/// ```
/// use spate_core::Show;
/// assert_eq!(("word".to_string(), 3u64).show(), "(word,3)");
/// assert_eq!((1, (2.5, Some('x'))).show(), "(1,(2.5,Some(x)))");
/// assert_eq!(vec![1, 2].show(), "[1, 2]");
/// ```
pub trait Show {
    /// Appends the text form of `self` to `out`.
    fn show_into(&self, out: &mut String);

    /// The text form of `self`.
    fn show(&self) -> String {
        let mut s = String::new();
        self.show_into(&mut s);
        s
    }
}

macro_rules! show_display {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show_into(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

show_display!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char, String,
    str, Text
);

impl<T: Show + ?Sized> Show for &T {
    fn show_into(&self, out: &mut String) {
        (**self).show_into(out)
    }
}

impl Show for () {
    fn show_into(&self, out: &mut String) {
        out.push_str("()");
    }
}

impl<T: Show> Show for Option<T> {
    fn show_into(&self, out: &mut String) {
        match self {
            Some(x) => {
                out.push_str("Some(");
                x.show_into(out);
                out.push(')');
            }
            None => out.push_str("None"),
        }
    }
}

impl<T: Show> Show for Vec<T> {
    fn show_into(&self, out: &mut String) {
        out.push('[');
        for (i, x) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            x.show_into(out);
        }
        out.push(']');
    }
}

macro_rules! show_tuple {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: Show),+> Show for ($($name,)+) {
            fn show_into(&self, out: &mut String) {
                out.push('(');
                let mut _first = true;
                $(
                    if !_first { out.push(','); }
                    _first = false;
                    self.$idx.show_into(out);
                )+
                out.push(')');
            }
        }
    };
}

show_tuple!(A.0);
show_tuple!(A.0, B.1);
show_tuple!(A.0, B.1, C.2);
show_tuple!(A.0, B.1, C.2, D.3);

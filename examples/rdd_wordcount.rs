//! Word count over a text file (or a directory of them) with the RDD API.
//!
//! ```text
//! cargo run --release --example rdd_wordcount -- <input-path> [output-dir]
//! ```
//!
//! Prints the ten most frequent words and the lineage of the counts; with an output directory,
//! also saves every `(word,count)` pair there. The master comes from `SPATE_MASTER` (as
//! `spate-submit` sets it), else `local[*]`.

use std::process::ExitCode;

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.len() > 2 {
        eprintln!("Usage: rdd_wordcount <input-path> [output-dir]");
        return ExitCode::from(1);
    }
    match run(&args[0], args.get(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdd_wordcount: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(input: &str, output: Option<&String>) -> Result<()> {
    let ctx = Context::new(Conf::from_env().set_app_name("RddWordCount"))?;
    let counts = ctx
        .text_file(input, ctx.default_parallelism())?
        .flat_map(|line: Text| line.split_whitespace())
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b)
        .cache();
    let mut top = counts.collect()?;
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: u64 = top.iter().map(|(_, n)| n).sum();
    println!("{total} words, {} distinct; the most frequent:", top.len());
    for (word, n) in top.iter().take(10) {
        println!("{:>10}  {word}", n);
    }
    println!("\nLineage of the counts:\n{}", counts.lineage());
    if let Some(dir) = output {
        counts.save_as_text_file(dir)?;
        println!("\nSaved every (word,count) to {dir}");
    }
    Ok(())
}

//! A worker's command line, made from the router's own (see the module docs of
//! `workers`: the router answers some options itself and hands each worker its share).

use std::ffi::OsString;

use clap::CommandFactory;

use super::REPORT_FD;
use crate::args::Args;
use crate::shard::Shard;

/// Long options the router answers for itself (a worker gets its own value or none).
const OWN_LONG: [&str; 4] = ["--workers", "--shard", "--summary-json", "--concurrency"];
/// Short options that take a value (clap accepts `-c5`, `-c 5`, `-c=5` and `-qc5`), read
/// from the parser's own definition, so that an option added there is not missed here.
fn short_with_value() -> Vec<char> {
    let command = Args::command();
    command.get_arguments().filter(|a| a.get_action().takes_values()).filter_map(|a| a.get_short()).collect()
}

/// A worker's command line: the router's arguments (`argv` without the program name)
/// minus the ones it answers for itself, plus the worker's own. The arguments have
/// been parsed by then, so no value starts with `-` (clap would have refused it).
pub fn worker_args(argv: &[OsString], shard: Shard, concurrency: u32, urls_on_stdin: bool) -> Vec<OsString> {
    let own_long = |name: &str| OWN_LONG.contains(&name) || (urls_on_stdin && name == "--urls");
    let mut out: Vec<OsString> = Vec::new();
    let mut rest: &[OsString] = &[];
    let mut skip_value = false;
    let short_with_value = short_with_value();
    for (i, arg) in argv.iter().enumerate() {
        let text = arg.to_string_lossy();
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if text == "--" {
            rest = &argv[i..];
            break;
        }
        if let Some(name) = text.strip_prefix("--").map(|_| text.split('=').next().unwrap_or_default()) {
            if own_long(name) {
                skip_value = !text.contains('=');
                continue;
            }
        } else if text.len() > 1 && text.starts_with('-') {
            // A cluster of short flags; the first one that takes a value takes the rest.
            let mut kept = String::from("-");
            for (at, flag) in text.char_indices().skip(1) {
                if !short_with_value.contains(&flag) {
                    kept.push(flag);
                    continue;
                }
                let value = &text[at + flag.len_utf8()..];
                if flag == 'c' {
                    skip_value = value.is_empty();
                } else {
                    kept.push_str(&text[at..]);
                }
                break;
            }
            if kept != text {
                if kept.len() > 1 {
                    out.push(kept.into());
                }
                continue;
            }
        }
        out.push(arg.clone());
    }
    for extra in [
        "--shard".into(),
        shard.to_string(),
        "--concurrency".into(),
        concurrency.to_string(),
        "--worker-report".into(),
        REPORT_FD.to_string(),
    ] {
        out.push(extra.into());
    }
    if urls_on_stdin {
        out.extend(["--urls".into(), "-".into()]);
    }
    out.extend(rest.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn worker(list: &[&str], on_stdin: bool) -> Vec<String> {
        let shard = Shard::parse("2/3").unwrap();
        worker_args(&args(list), shard, 7, on_stdin).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    const OURS: [&str; 6] = ["--shard", "2/3", "--concurrency", "7", "--worker-report", "3"];

    #[test]
    fn a_worker_gets_the_arguments_minus_the_router_s_own_plus_its_shard() {
        let got = worker(
            &[
                "--urls",
                "l.txt",
                "--workers",
                "3",
                "-qc5",
                "--jsonl",
                "-c",
                "9",
                "--shard=1/2",
                "--summary-json",
                "s.json",
                "-n",
                "10",
                "-H",
                "X: 1",
                "--concurrency=4",
                "-c3",
                "-kLfc",
                "2",
                "--workers=3",
            ],
            false,
        );
        let mut want = vec!["--urls", "l.txt", "-q", "--jsonl", "-n", "10", "-H", "X: 1", "-kLf"];
        want.extend(OURS);
        assert_eq!(got, want);
    }

    #[test]
    fn the_short_options_with_a_value_come_from_the_parser() {
        let mut got = short_with_value();
        got.sort_unstable();
        assert_eq!(got, ['A', 'H', 'X', 'c', 'n', 'o', 'x']);
    }

    #[test]
    fn a_list_on_stdin_becomes_the_worker_s_stdin_and_dash_dash_stays_last() {
        let mut want = vec!["-o", "dir", "--jsonl"];
        want.extend(OURS);
        want.extend(["--urls", "-"]);
        assert_eq!(worker(&["--urls", "-", "-o", "dir", "--urls=/dev/stdin", "--jsonl"], true), want);
        let mut want = vec!["-qxproxy:1"];
        want.extend(OURS);
        want.extend(["--", "http://h/{}"]);
        assert_eq!(worker(&["-qxproxy:1", "--", "http://h/{}"], false), want);
    }
}

//! `hosts`: every configured host at once, as a table or JSON (the same document as
//! `status --json` prints when `[[hosts]]` are configured).

use crate::config::Config;
use crate::hosts::overview;

pub async fn hosts_command(config: &Config, json: bool) -> i32 {
    if config.hosts.is_empty() {
        eprintln!(
            "elt-console: no [[hosts]] are configured: the console watches the one engine of [docker] (see `elt-console status`, and docs/scaling.md to add hosts)"
        );
        return crate::exit_code::USAGE;
    }
    let report = overview::collect(config).await;
    print_report(&report, json)
}

/// Print the several-hosts report; the exit code is the worst host's.
pub fn print_report(report: &overview::HostsReport, json: bool) -> i32 {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("elt-console: cannot encode the hosts report: {e}");
                return crate::exit_code::INTERNAL;
            }
        }
    } else {
        print!("{}", overview::render(report, chrono::Utc::now()));
    }
    report.exit_code
}

/// `history` over [[hosts]]: every selected host's store, merged newest first.
pub fn history_command(config: &Config, wanted: &[String], json: bool, limit: u32) -> i32 {
    let hosts = match crate::hosts::select(config, wanted) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("elt-console: history: {e}");
            return crate::exit_code::USAGE;
        }
    };
    let (list, problems) = crate::hosts::history::merged(config, &hosts, limit);
    for p in &problems {
        eprintln!("elt-console: history: {p}");
    }
    if json {
        match serde_json::to_string_pretty(&list) {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("elt-console: history: {e}");
                return crate::exit_code::INTERNAL;
            }
        }
    } else if list.is_empty() {
        println!("no deployments recorded on any host");
    } else {
        println!("{}", crate::hosts::history::render(&list));
    }
    if problems.is_empty() {
        0
    } else {
        crate::exit_code::UNREACHABLE
    }
}

use clap::Parser;
use elt_console::cli::{self, Cli};
use elt_console::exit_code;

fn main() {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`elt-console status | head`) instead of panicking on a failed print.
    elt_console::sys::set_sigpipe(elt_console::sys::SigPipe::Default);
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit_code::USAGE,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let _log_guard = elt_console::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("elt-console: cannot start the async runtime: {e}");
            std::process::exit(exit_code::INTERNAL);
        }
    };
    let code = runtime.block_on(cli::run(cli));
    // Do not wait for stuck blocking tasks (an NVML call, a DNS lookup) past the answer.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    drop(_log_guard);
    std::process::exit(code);
}

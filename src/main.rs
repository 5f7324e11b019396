//! dind-init's entry point: parse the command line, load the config, and hand
//! over to the stage modules. Only wiring lives here.

use dind_init::config::{self, Cli, Config};
use dind_init::{doctor, session};
use std::io::Write;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cli = match config::parse_cli(&args) {
        Ok(c) => c,
        Err(e) => fail(&e),
    };
    match cli {
        Cli::Help => {
            doctor::emit(&config::usage());
            return;
        }
        Cli::Version => {
            doctor::emit(&format!("dind-init {}\n", env!("CARGO_PKG_VERSION")));
            return;
        }
        _ => {}
    }
    let cfg = match Config::load() {
        Ok(c) => c,
        Err(e) => fail(&e),
    };
    init_logging(&cfg);
    for w in &cfg.unknown_env {
        log::warn!("{w}");
    }
    let code = match cli {
        Cli::Run(argv) => session::run(&cfg, argv),
        Cli::Doctor { json } => doctor::doctor(&cfg, json),
        Cli::Plan { json } => doctor::plan(&cfg, json),
        Cli::Status { settled, json } => doctor::status(&cfg, settled, json),
        Cli::Sidecar => session::sidecar(&cfg),
        Cli::Help | Cli::Version => 0,
    };
    std::process::exit(code);
}

/// One line on stderr, then the error's exit code: nothing has been changed yet.
fn fail(e: &dind_init::Error) -> ! {
    eprintln!("dind-init: error: {e}");
    std::process::exit(e.exit_code());
}

/// `dind-init[level] message` on stderr; DIND_LOG, else RUST_LOG, else info.
fn init_logging(cfg: &Config) {
    let mut b = env_logger::Builder::new();
    match (cfg.log, std::env::var("RUST_LOG")) {
        (Some(level), _) => {
            b.filter_level(level);
        }
        (None, Ok(spec)) => {
            b.parse_filters(&spec);
        }
        (None, Err(_)) => {
            b.filter_level(log::LevelFilter::Info);
        }
    }
    b.format(|buf, rec| {
        writeln!(
            buf,
            "dind-init[{}] {}",
            rec.level().as_str().to_lowercase(),
            rec.args()
        )
    });
    b.target(env_logger::Target::Stderr);
    let _ = b.try_init();
}

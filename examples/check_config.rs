//! Checks a router config file the way loading it would, and explains where a sample
//! request would go. Exits non-zero with every problem (path, line, column) when the file
//! is invalid. Secrets are read from the environment, as in production.
//!
//! ```text
//! cargo run --example check_config --features toml,yaml,json -- FILE [STEP_TYPE] [PURPOSE] [MODEL]
//! ROUTEWISE_DEMO_KEY=x ROUTEWISE_GATEWAY_TOKEN=y \
//!   cargo run --example check_config --features toml -- examples/routewise.toml inference chat
//! ```

use std::process::ExitCode;

use routewise::config::RouterConfig;
use routewise::{ChatRequest, Purpose, Router, StepType};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: check_config FILE [STEP_TYPE] [PURPOSE] [MODEL]");
        return ExitCode::from(2);
    };
    let step = StepType::from(args.next().as_deref().unwrap_or("inference"));
    let purpose = Purpose::from(args.next().as_deref().unwrap_or("chat"));
    let mut request = ChatRequest::user("A sample request.");
    if let Some(model) = args.next() {
        request = request.model(model);
    }

    let router = match RouterConfig::from_path(&path)
        .map_err(|e| e.to_string())
        .and_then(|config| Router::from_config(&config).map_err(|e| e.to_string()))
    {
        Ok(router) => router,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::FAILURE;
        }
    };
    println!("{path}: valid ({router:?})\n");
    print!("{}", router.explain(step, purpose, &request));
    ExitCode::SUCCESS
}

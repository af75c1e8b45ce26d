//! The `soporte` binary: parse the command line and hand over to the library.

use clap::Parser;
use soporte_server::auth::{Minter, TokenRequest, Verifier};
use soporte_server::config::{
    ApiKeyCommand, Cli, Command, Config, ConfigError, DatabaseUrl, HealthcheckArgs, ServeArgs,
    TokenArgs, WsEchoArgs,
};
use soporte_server::store::postgres::PostgresStore;
use soporte_server::store::sqlite::SqliteStore;
use soporte_server::{demo, Application};
use std::process::ExitCode;

/// Settings that may hold a secret, and so may also come from a file named
/// by `<NAME>_FILE` (Docker and Kubernetes secrets, systemd credentials).
const SECRET_SETTINGS: [&str; 5] = [
    "SOPORTE_JWT_SECRET",
    "SOPORTE_DATABASE_URL",
    "SOPORTE_REDIS_URL",
    "SOPORTE_SMTP_URL",
    "AWS_SECRET_ACCESS_KEY",
];

fn main() -> ExitCode {
    if let Err(message) = secrets_from_files() {
        eprintln!("soporte: {message}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Token(args) => token(*args),
        Command::Migrate(args) => migrate(&args.database.database_url, args.new_epoch),
        Command::WsEcho(args) => ws_echo(args),
        Command::Healthcheck(args) => healthcheck(args),
        Command::ApiKey(command) => api_key(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("soporte: {message}");
            ExitCode::FAILURE
        }
    }
}

/// For each of [`SECRET_SETTINGS`] given as `<NAME>_FILE`, reads the file
/// (one trailing newline dropped) into `<NAME>`, before anything reads the
/// environment. Both set, or a file that cannot be read, is an error.
fn secrets_from_files() -> Result<(), String> {
    for name in SECRET_SETTINGS {
        let file_var = format!("{name}_FILE");
        let Some(path) = std::env::var_os(&file_var) else {
            continue;
        };
        if std::env::var_os(name).is_some() {
            return Err(format!("{name} and {file_var} are both set: set one"));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{file_var}: cannot read {}: {e}", path.to_string_lossy()))?;
        let value = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        if value.is_empty() {
            return Err(format!("{file_var}: {} is empty", path.to_string_lossy()));
        }
        // First thing in `main`, before any thread exists (the runtime
        // starts later): nothing reads the environment while it changes.
        std::env::set_var(name, value);
    }
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = Config::from_args(&args).map_err(|e| e.to_string())?;
    init_logging(&args.log_format)?;
    let mut keys = args.keys.clone();
    if keys.jwt_secret.is_none() && keys.jwt_public_key.is_none() {
        if !config.demo {
            return Err(ConfigError::new(
                "SOPORTE_JWT_SECRET / SOPORTE_JWT_PUBLIC_KEY",
                "no token key configured: set one (or run with --demo for a development secret)",
            )
            .to_string());
        }
        let DatabaseUrl::Sqlite(db) = &config.database else {
            return Err("--demo without a JWT key needs a sqlite:// database (the dev secret is kept beside it)".into());
        };
        let data_dir = db.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let secret = demo::dev_secret(&data_dir)
            .map_err(|e| format!("demo secret in {}: {e}", data_dir.display()))?;
        eprintln!(
            "demo: using the development secret in {}",
            data_dir.join("demo-secret").display()
        );
        keys.jwt_secret = Some(secret);
    }
    let verifier = Verifier::from_args(&keys)
        .map_err(|e| e.to_string())?
        .expect("a key is configured");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let demo_mode = config.demo;
        let application = Application::build(config, verifier)
            .await
            .map_err(|e| e.to_string())?;
        println!("listening on http://{}", application.local_addr());
        if demo_mode {
            let secret = keys
                .jwt_secret
                .as_deref()
                .ok_or("--demo links need an HS256 secret (SOPORTE_JWT_SECRET)")?;
            let links = demo::seed(application.state(), secret).await?;
            println!("\nDemo de Soporte: abre estos enlaces (cada uno en su propia ventana):");
            for (who, url) in links {
                println!("  {who}:\n    {url}");
            }
            println!();
        }
        tracing::info!(addr = %application.local_addr(), "serving");
        if let Some(addr) = application.metrics_addr() {
            tracing::info!(%addr, "serving /metrics apart");
        }
        application
            .run_until_stopped(soporte_server::edge::serve::shutdown_signal())
            .await
            .map_err(|e| format!("server error: {e}"))
    })
}

/// The WebSocket echo of protocol conformance runs (`ws::echo`).
/// One GET of the readiness URL; any answer but a 2xx is a failure, told in
/// one line.
fn healthcheck(args: HealthcheckArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest13::Client::builder()
            .timeout(args.timeout)
            .build()
            .map_err(|e| format!("healthcheck: {e}"))?;
        let response = client
            .get(&args.url)
            .send()
            .await
            .map_err(|e| format!("healthcheck: {} did not answer: {}", args.url, causes(&e)))?;
        match response.status().is_success() {
            true => Ok(()),
            false => Err(format!(
                "healthcheck: {} answered {}",
                args.url,
                response.status()
            )),
        }
    })
}

/// An error and what caused it, on one line (reqwest's own text stops at
/// "error sending request", the cause being a refusal or a timeout).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn ws_echo(args: WsEchoArgs) -> Result<(), String> {
    let max_frame = args.frames.max_frame_size().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime
        .block_on(soporte_server::ws::echo::serve(
            args.port,
            max_frame,
            |addr| {
                println!("listening on http://{addr}");
            },
        ))
        .map_err(|e| format!("ws-echo: {e}"))
}

fn token(args: TokenArgs) -> Result<(), String> {
    let role = soporte_protocol::Role::parse(&args.role.to_ascii_uppercase()).ok_or_else(|| {
        format!(
            "--role: expected CLIENTE, AGENTE or SUPERVISOR, got {:?}",
            args.role
        )
    })?;
    if args.sub <= 0 {
        return Err("--sub: the user id must be a positive integer".into());
    }
    let secret = args
        .keys
        .jwt_secret
        .as_deref()
        .ok_or("SOPORTE_JWT_SECRET (--jwt-secret): needed to sign tokens")?;
    let minter = Minter::hs256(secret).map_err(|e| e.to_string())?;
    println!(
        "{}",
        minter.mint(&TokenRequest {
            id: args.sub,
            name: &args.name,
            role,
            avatar: args.avatar.as_deref(),
            ttl_seconds: args.ttl,
            issuer: args.keys.jwt_issuer.as_deref(),
            audience: args.keys.jwt_audience.as_deref(),
        })
    );
    Ok(())
}

/// `soporte api-key …`: the keys live in the database, so this opens the
/// store (migrating it, as `serve` would) and writes through it.
fn api_key(command: ApiKeyCommand) -> Result<(), String> {
    use soporte_server::store::{DynStore, NoListener};
    use std::sync::Arc;
    const SETTING: &str = "SOPORTE_DATABASE_URL (--database-url)";
    let database_url = match &command {
        ApiKeyCommand::Create { database, .. }
        | ApiKeyCommand::List { database }
        | ApiKeyCommand::Revoke { database, .. } => database.database_url.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let store: DynStore = match DatabaseUrl::parse(&database_url).map_err(|e| e.to_string())? {
            DatabaseUrl::Sqlite(path) => Arc::new(
                SqliteStore::open(&path, Arc::new(NoListener), "")
                    .map_err(|e| format!("{SETTING}: {e}"))?,
            ),
            DatabaseUrl::Postgres(url) => Arc::new(
                PostgresStore::open(&url, Arc::new(NoListener), "")
                    .await
                    .map_err(|e| format!("{SETTING}: {e}"))?,
            ),
        };
        match command {
            ApiKeyCommand::Create { name, .. } => {
                let name = name.trim().to_string();
                if !soporte_server::api_keys::valid_name(&name) {
                    return Err(format!(
                        "--name: 1 to 100 letters, digits, spaces, '-', '_' or '.', got {name:?}"
                    ));
                }
                let new = soporte_server::api_keys::generate();
                store
                    .create_api_key(name.clone(), new.prefix, new.hash)
                    .await
                    .map_err(|e| match e {
                        soporte_server::store::StoreError::Refused(_) => {
                            format!("--name: a key called {name:?} exists already")
                        }
                        other => format!("{SETTING}: {other}"),
                    })?;
                println!("{}", new.key);
                eprintln!("api key {name:?} created; keep it now: only its hash is stored");
            }
            ApiKeyCommand::List { .. } => {
                let keys = store
                    .api_keys()
                    .await
                    .map_err(|e| format!("{SETTING}: {e}"))?;
                println!(
                    "{:<30} {:<10} {:<25} {:<25} revoked",
                    "name", "prefix", "created", "last used"
                );
                for key in keys {
                    let when = |at: Option<soporte_protocol::Timestamp>| {
                        at.map_or("-".to_string(), |t| t.to_string())
                    };
                    println!(
                        "{:<30} {:<10} {:<25} {:<25} {}",
                        key.name,
                        key.prefix,
                        key.created.to_string(),
                        when(key.last_used),
                        when(key.revoked_at)
                    );
                }
            }
            ApiKeyCommand::Revoke { name, .. } => {
                let revoked = store
                    .revoke_api_key(name.clone())
                    .await
                    .map_err(|e| format!("{SETTING}: {e}"))?;
                if !revoked {
                    return Err(format!("no key in use is called {name:?}"));
                }
                println!("api key {name:?} revoked");
            }
        }
        Ok(())
    })
}

fn migrate(database_url: &str, new_epoch: bool) -> Result<(), String> {
    const SETTING: &str = "SOPORTE_DATABASE_URL (--database-url)";
    match DatabaseUrl::parse(database_url).map_err(|e| e.to_string())? {
        DatabaseUrl::Sqlite(path) => {
            let applied = SqliteStore::migrate(&path).map_err(|e| format!("{SETTING}: {e}"))?;
            println!("migrations applied: {applied}");
            if new_epoch {
                let epoch =
                    SqliteStore::renew_epoch(&path).map_err(|e| format!("{SETTING}: {e}"))?;
                println!("new epoch: {epoch}");
            }
            Ok(())
        }
        DatabaseUrl::Postgres(url) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            let applied = runtime
                .block_on(PostgresStore::migrate(&url))
                .map_err(|e| format!("{SETTING}: {e}"))?;
            println!("migrations applied: {applied}");
            if new_epoch {
                let epoch = runtime
                    .block_on(PostgresStore::renew_epoch(&url))
                    .map_err(|e| format!("{SETTING}: {e}"))?;
                println!("new epoch: {epoch}");
            }
            Ok(())
        }
    }
}

fn init_logging(format: &str) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SOPORTE_LOG")
        // memory-serve lists every embedded page at INFO.
        .unwrap_or_else(|_| EnvFilter::new("info,memory_serve=warn"));
    use std::io::IsTerminal;
    // A log line that cannot be written is dropped: by default the library
    // reports it with eprintln!, which panics when stderr is a closed pipe
    // (a dead log collector) and took the task that waits for SIGTERM with
    // it. Colours only for a terminal, never in files or journald.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false);
    match format {
        "text" => builder.init(),
        "json" => builder.json().init(),
        other => {
            return Err(format!(
                "SOPORTE_LOG_FORMAT (--log-format): expected text or json, got {other:?}"
            ))
        }
    }
    Ok(())
}

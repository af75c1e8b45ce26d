//! `helpdesk`: what agents and supervisors wait for on a store of a real
//! helpdesk's size (made by `seed`): an agent's first inbox page, a
//! supervisor's list filtered by state and agent, the team's stats for 30
//! days, search by each kind of query people type, and a ticket's newest
//! history page.
//! Requests go one at a time, so each latency is the server's alone.

use crate::client;
use crate::seed::{self, Rng, LAST_NAMES, SUPERVISOR, WORDS};
use crate::server::{self, Server};
use crate::stats::{Samples, Summary};
use serde::Serialize;
use soporte_protocol::Role;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The seeded database (`sqlite://PATH` or `postgres://…`).
    #[arg(long)]
    pub database_url: String,
    /// Requests per measure.
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Tickets in the seeded store (for picking random ones).
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: usize,
    /// Agents in the seeded store.
    #[arg(long, default_value_t = 50)]
    pub agents: usize,
    /// PostgreSQL: the schema `seed --schema` filled.
    #[arg(long)]
    pub schema: Option<String>,
    /// Leave search out (to time the rest where search is slow).
    #[arg(long)]
    pub no_search: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub agent_inbox_first_page: Summary,
    /// A supervisor's first page narrowed by state, agent or the queue.
    pub supervisor_filtered_list: Summary,
    /// `GET /stats/` for the last 30 days (one request per ten of the rest).
    pub team_stats_30_days: Summary,
    pub history_newest_page: Summary,
    /// Every search, as a supervisor (who sees everything) and as an agent.
    pub search_all: Summary,
    pub search_by_kind: Vec<(String, Summary)>,
}

/// What people type in a search box, with how it is made.
const KINDS: [&str; 5] = [
    "una palabra",
    "dos palabras",
    "prefijo",
    "nombre",
    "número de pedido",
];

fn query(kind: &str, rng: &mut Rng) -> String {
    let word = |rng: &mut Rng| WORDS[rng.below(WORDS.len())].to_string();
    match kind {
        "una palabra" => word(rng),
        "dos palabras" => format!("{} {}", word(rng), word(rng)),
        "prefijo" => {
            let w = word(rng);
            w.chars().take(3 + rng.below(3)).collect()
        }
        "nombre" => LAST_NAMES[rng.below(LAST_NAMES.len())].to_string(),
        _ => seed::order_number(rng).to_string(),
    }
}

pub async fn run(server_bin: &Path, options: &Options) -> Result<Report, String> {
    let server = Server::spawn_with_url(
        server_bin,
        Some(seed::in_schema(
            &options.database_url,
            options.schema.as_deref(),
        )),
        &[],
        server::Limits::Off,
    )
    .await?;
    let report = measure(&server, options).await;
    server.stop().await;
    report
}

async fn measure(server: &Server, options: &Options) -> Result<Report, String> {
    let http = reqwest::Client::new();
    let supervisor = client::token(SUPERVISOR, Role::Supervisor);
    let mut rng = Rng::new(0xbe4c);
    let api = format!("{}/api/soporte", server.base);
    // A first pass warms the caches a running server has warm.
    for _ in 0..20 {
        let agent = client::token(1 + rng.below(options.agents) as i64, Role::Agent);
        get(&http, &format!("{api}/tickets/?limit=50"), &agent).await?;
        get(
            &http,
            &format!("{api}/buscar/?q={}", query("una palabra", &mut rng)),
            &supervisor,
        )
        .await?;
    }
    let (mut inbox, mut history, mut all) =
        (Samples::default(), Samples::default(), Samples::default());
    let (mut filtered, mut stats) = (Samples::default(), Samples::default());
    let month_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64
        - 30 * 86_400_000;
    let since = serde_json::to_value(soporte_protocol::Timestamp::from_millis(month_ago))
        .map_err(|e| e.to_string())?;
    let since = since.as_str().unwrap_or_default().to_string();
    let mut by_kind: Vec<Samples> = KINDS.iter().map(|_| Samples::default()).collect();
    for n in 0..options.requests {
        let agent_id = 1 + rng.below(options.agents) as i64;
        let agent = client::token(agent_id, Role::Agent);
        inbox.push(get(&http, &format!("{api}/tickets/?limit=50"), &agent).await?);
        let ticket = 1 + rng.below(options.tickets);
        history.push(
            get(
                &http,
                &format!("{api}/tickets/{ticket}/chat/historial/?size=50"),
                &supervisor,
            )
            .await?,
        );
        let narrowed = match n % 3 {
            0 => format!("estado=ABIERTO&agente={agent_id}"),
            1 => "estado=EN_ESPERA".to_string(),
            _ => "agente=ninguno".to_string(),
        };
        filtered.push(
            get(
                &http,
                &format!("{api}/tickets/?limit=50&{narrowed}"),
                &supervisor,
            )
            .await?,
        );
        if n % 10 == 0 {
            let url =
                reqwest::Url::parse_with_params(&format!("{api}/stats/"), [("desde", &since)])
                    .map_err(|e| e.to_string())?;
            stats.push(get(&http, url.as_str(), &supervisor).await?);
        }
        if options.no_search {
            continue;
        }
        let kind = n % KINDS.len();
        let text = query(KINDS[kind], &mut rng);
        let url = reqwest::Url::parse_with_params(&format!("{api}/buscar/"), [("q", &text)])
            .map_err(|e| e.to_string())?;
        let who = if n % 2 == 0 { &supervisor } else { &agent };
        let took = get(&http, url.as_str(), who).await?;
        by_kind[kind].push(took);
        all.push(took);
    }
    Ok(Report {
        scenario: "helpdesk",
        agent_inbox_first_page: inbox.summary(),
        supervisor_filtered_list: filtered.summary(),
        team_stats_30_days: stats.summary(),
        history_newest_page: history.summary(),
        search_all: all.summary(),
        search_by_kind: KINDS
            .iter()
            .zip(by_kind.iter_mut())
            .map(|(k, s)| (k.to_string(), s.summary()))
            .collect(),
    })
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Result<Duration, String> {
    client::timed_get(http, url, token)
        .await
        .map(|(took, _)| took)
}

//! `soporte-bench`: the load generator. It starts the real `soporte` binary on
//! 127.0.0.1 with a fresh database and talks to it through real sockets and
//! the real protocol. Every run is bounded; results print as a table and,
//! with `--json`, as JSON.

mod client;
mod cluster;
mod connections;
mod fanout;
mod helpdesk;
mod history;
mod relay;
mod seed;
mod seed_postgres;
mod seed_sqlite;
mod server;
mod soak;
mod stats;
mod throughput;
mod webhooks;

use clap::{Parser, Subcommand};
use server::Server;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "soporte-bench",
    about = "Load generator for Soporte (127.0.0.1 only)"
)]
struct Cli {
    /// The server binary to start.
    #[arg(long, global = true, default_value = "target/release/soporte")]
    server_bin: PathBuf,
    /// Also write the report as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Confirmed messages per second and latencies over many tickets.
    Throughput {
        #[command(flatten)]
        load: throughput::Options,
        /// Run on this SQLite database (a seeded one, say) instead of a
        /// fresh one; its new tickets and messages stay in it.
        #[arg(long)]
        database: Option<std::path::PathBuf>,
    },
    /// Many idle connections: how many held, and memory per connection.
    Connections(connections::Options),
    /// One ticket watched by many: delivery latency to all.
    Fanout(fanout::Options),
    /// History page latency on a ticket with many messages.
    History(history::Options),
    /// Throughput on one node, then across several nodes of one cluster.
    Cluster(cluster::Options),
    /// The throughput load against a bare relay that stores nothing: the
    /// ceiling of sockets and generator alone on this machine.
    Relay(throughput::Options),
    /// Mixed traffic for a long time; fails on lost messages, leaked
    /// connections or descriptors, or memory that keeps growing.
    Soak(soak::Options),
    /// The throughput load with one webhook subscribed to every message,
    /// posted to a local receiver: throughput, and latency to the receiver.
    Webhooks(throughput::Options),
    /// Loads a helpdesk-sized dataset into an empty database (bulk SQL).
    Seed(seed::Options),
    /// Inbox, search and history latency on a seeded database.
    Helpdesk(helpdesk::Options),
    /// Runs the bare relay (started by the `relay` scenario).
    #[command(hide = true)]
    RelayServer,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("soporte-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    // A run that lost, repeated or reordered a message fails, whatever its speed.
    let mut failed = false;
    let report = match &cli.scenario {
        Scenario::Throughput { load, database } => {
            let server = Server::spawn(&cli.server_bin, database.clone(), &[]).await?;
            let report = throughput::run(&server, load).await;
            server.stop().await;
            let report = report?;
            print_throughput("throughput", &report);
            failed = report.lost + report.duplicated + report.out_of_order > 0;
            serde_json::to_value(&report)
        }
        Scenario::Webhooks(options) => {
            let extra = ["--webhook-allow-private".to_string()];
            let server = Server::spawn(&cli.server_bin, None, &extra).await?;
            let report = webhooks::run(&server, options).await;
            server.stop().await;
            let report = report?;
            print_throughput("throughput with a webhook", &report.throughput);
            println!(
                "  webhook: {} events ({} posts) for {} confirmed, {} missing; drained {:.1} s after sending\n  commit -> receiver  {}",
                report.events, report.posts, report.throughput.confirmed, report.missing, report.drain_s, report.delivery_latency
            );
            let t = &report.throughput;
            failed = t.lost + t.duplicated + t.out_of_order + report.missing > 0;
            serde_json::to_value(&report)
        }
        Scenario::Relay(options) => {
            let relay = Server::spawn_relay().await?;
            let report = throughput::run(&relay, options).await;
            relay.stop().await;
            let report = report?;
            print_throughput("relay (stores nothing)", &report);
            failed = report.lost + report.duplicated + report.out_of_order > 0;
            serde_json::to_value(&report)
        }
        Scenario::Soak(options) => {
            // As shipped: the soak's abusive clients must meet the real limits.
            let server =
                Server::spawn_with_url(&cli.server_bin, None, &[], server::Limits::Shipped)
                    .await?;
            let report = soak::run(&server, options).await;
            server.stop().await;
            let report = report?;
            println!(
                "soak: {:.0} s, {} clients: {} sessions ({} dropped abruptly), {} messages confirmed, {} delivered, {} uploads, {} lost\n  flooder: {} rounds, {} closed with 4102 after {} refusals\n  RSS {} KiB at start, {} at half time, {} max, {} at the end\n  open files {} at start, {} max, {} at the end; tasks {} at start, {} at the end; connections open at the end: {}",
                report.duration_s, report.clients, report.counts.sessions, report.counts.abrupt_disconnects,
                report.counts.messages_confirmed, report.counts.messages_delivered, report.counts.uploads, report.counts.lost,
                report.counts.flood_rounds, report.counts.flood_closed_4102, report.counts.flood_refusals,
                report.rss_start_kib, report.rss_half_kib, report.rss_max_kib, report.rss_end_kib,
                report.fds_start, report.fds_max, report.fds_end, report.tasks_start, report.tasks_end, report.connections_end
            );
            if let Some(last) = report.samples.last() {
                let before = &report.before;
                println!(
                    "  heap in use {} KiB before the traffic, {} KiB after it with every client gone (SQLite {} KiB, then {} KiB; the rest {} KiB, then {} KiB)",
                    before.heap_in_use_kib, last.heap_in_use_kib, before.sqlite_kib, last.sqlite_kib,
                    before.heap_in_use_kib.saturating_sub(before.sqlite_kib), last.heap_in_use_kib.saturating_sub(last.sqlite_kib)
                );
            }
            println!("  quiet points (threads {} before the traffic):", report.threads_start);
            for quiet in &report.quiet {
                println!(
                    "    {:>5} s: heap in use {} KiB (SQLite {}, the rest {}), RSS {} KiB, threads {}, open files {}",
                    quiet.t_s,
                    quiet.heap_in_use_kib,
                    quiet.sqlite_kib,
                    quiet.heap_in_use_kib.saturating_sub(quiet.sqlite_kib),
                    quiet.rss_kib,
                    quiet.threads,
                    quiet.fds
                );
            }
            for failure in &report.failures {
                println!("  FAILED: {failure}");
            }
            failed = !report.failures.is_empty();
            serde_json::to_value(&report)
        }
        Scenario::Seed(options) => {
            let report = seed::run(&cli.server_bin, options).await?;
            println!(
                "seed: {} tickets, {} messages in {:.1} s ({:.0} messages/s)",
                report.tickets,
                report.messages,
                report.seconds,
                report.messages as f64 / report.seconds
            );
            serde_json::to_value(&report)
        }
        Scenario::Helpdesk(options) => {
            let report = helpdesk::run(&cli.server_bin, options).await?;
            println!(
                "helpdesk: {}\n  agent inbox, first page   {}\n  supervisor, filtered      {}\n  team stats, 30 days       {}\n  history, newest page      {}\n  search, every kind       {}",
                options.database_url.split('?').next().unwrap_or_default(),
                report.agent_inbox_first_page,
                report.supervisor_filtered_list,
                report.team_stats_30_days,
                report.history_newest_page,
                report.search_all
            );
            for (kind, summary) in &report.search_by_kind {
                println!("    {kind:<22} {summary}");
            }
            serde_json::to_value(&report)
        }
        Scenario::RelayServer => {
            relay::serve().await?;
            return Ok(());
        }
        Scenario::Cluster(options) => {
            let report = cluster::run(&cli.server_bin, options).await?;
            print_throughput("cluster, 1 node", &report.one_node);
            print_throughput(&format!("cluster, {} nodes", report.nodes), &report.many_nodes);
            failed = [&report.one_node, &report.many_nodes]
                .iter()
                .any(|r| r.lost + r.duplicated + r.out_of_order > 0);
            serde_json::to_value(&report)
        }
        Scenario::Connections(options) => {
            let server = match options.relay {
                true => Server::spawn_relay().await?,
                false => Server::spawn(&cli.server_bin, None, &[]).await?,
            };
            let report = connections::run(&server, options).await;
            server.stop().await;
            let report = report?;
            let micros = |us: Option<f64>| us.map(|us| format!("{us:.0} µs")).unwrap_or_else(|| "unknown".into());
            println!(
                "connections{}: {} requested, {} opened, {} held, {:.0} connects/s ({:.2} s)\n  CPU per connection while connecting: server {}, generator {}\n  server RSS {:?} KiB -> {:?} KiB: {} per connection",
                if options.relay { " (bare relay)" } else { "" },
                report.requested,
                report.opened,
                report.held,
                report.connects_per_s,
                report.connect_seconds,
                micros(report.server_cpu_us_per_connection),
                micros(report.generator_cpu_us_per_connection),
                report.rss_before_kib,
                report.rss_after_kib,
                report.bytes_per_connection.map(|b| format!("{:.0} bytes ({:.2} KiB)", b, b / 1024.0)).unwrap_or_else(|| "unknown".into())
            );
            serde_json::to_value(&report)
        }
        Scenario::Fanout(options) => {
            let server = Server::spawn(&cli.server_bin, None, &[]).await?;
            let report = fanout::run(&server, options).await;
            server.stop().await;
            let report = report?;
            println!(
                "fanout: {} watchers x {} messages: {} of {} delivered (lost {})\n  delivery  {}",
                report.watchers, report.messages, report.deliveries, report.expected_deliveries, report.lost, report.delivery_latency
            );
            failed = report.lost > 0;
            serde_json::to_value(&report)
        }
        Scenario::History(options) => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let db = dir.path().join("history.db");
            let (ticket, fill_seconds) = history::fill(&db, options.messages).await?;
            let server = Server::spawn(&cli.server_bin, Some(db), &[]).await?;
            let report = history::run(&server, ticket, options, fill_seconds).await;
            server.stop().await;
            let report = report?;
            println!(
                "history: {} messages (filled in {:.1} s, {:.0} msg/s through the store)\n  newest page     {}\n  deep, before=   {}\n  deep, page=     {}",
                report.messages,
                report.fill_seconds,
                report.messages as f64 / report.fill_seconds,
                report.newest_page,
                report.deep_before_cursor,
                report.deep_page_number
            );
            serde_json::to_value(&report)
        }
    }
    .map_err(|e| e.to_string())?;
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if failed {
        return Err("messages were lost, duplicated or reordered".into());
    }
    Ok(())
}

fn print_throughput(title: &str, report: &throughput::Report) {
    println!(
        "{title}: {} tickets, {}, {:.1} s\n  confirmed {} of {} sent: {:.0} msg/s\n  confirm   {}\n  delivery  {}\n  lost {}  duplicated {}  out of order {}  errors {}\n  server: {} commits, {:.1} messages per commit, {:.3} ms per commit, {} over 5 ms; {} WAL restarts, {:.1} ms in all; {:.2} WAL frames per message",
        report.tickets,
        report.rate.map(|r| format!("{r} msg/s offered")).unwrap_or_else(|| format!("window {}", report.window.unwrap_or(0))),
        report.duration_s,
        report.confirmed,
        report.sent,
        report.confirmed_per_s,
        report.confirm_latency,
        report.delivery_latency,
        report.lost,
        report.duplicated,
        report.out_of_order,
        report.errors,
        report.commit_batches,
        report.messages_per_commit,
        report.mean_commit_ms,
        report.commits_over_5ms,
        report.wal_restarts,
        report.wal_restart_ms,
        report.wal_frames_per_message
    );
}

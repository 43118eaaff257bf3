//! Starting the services under test for a case: coolriel instances and a store-manager,
//! each a release binary with its log in the case's directory; and the other processes
//! whose CPU time a case accounts for.

use std::path::Path;

use anyhow::Result;

use super::{Backend, Settings};
use crate::procs::{Service, find_process, free_port};

/// The services' `RUST_LOG`: `info`, or `BENCH_SERVICE_LOG` when set (to see, say, the
/// outbox's per-round timings with `info,store_manager::outbox=debug`).
fn service_log_filter() -> String {
    std::env::var("BENCH_SERVICE_LOG").unwrap_or_else(|_| "info".to_owned())
}

/// Start `instances` coolriel processes in one group on `topic`, writing into `out`.
pub(super) fn start_coolriel(
    settings: &Settings,
    topic: &str,
    group: &str,
    out: &Path,
    instances: usize,
    logs: &Path,
) -> Result<Vec<Service>> {
    (0..instances)
        .map(|i| {
            Service::spawn(
                &format!("coolriel #{i}"),
                &settings.bin("coolriel"),
                &[],
                &[
                    ("KAFKA_BOOTSTRAP_SERVERS", settings.brokers.clone()),
                    ("COOLRIEL_TOPICS", topic.to_owned()),
                    ("KAFKA_GROUP_ID", group.to_owned()),
                    ("OUTPUT_DIR", out.display().to_string()),
                    ("TEMPLATES_DIR", settings.templates.display().to_string()),
                    ("COOLRIEL_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()?)),
                    ("RUST_LOG", service_log_filter()),
                ],
                &settings.work,
                &logs.join(format!("coolriel-{i}.log")),
            )
        })
        .collect()
}

/// Start a store-manager on `database_url` on a free port, its outbox publishing to
/// `user_topic` and `order_topic`; returns it and its base URL.
pub(super) fn start_store_manager(
    settings: &Settings,
    database_url: &str,
    user_topic: &str,
    order_topic: &str,
    log_file: &Path,
) -> Result<(Service, String)> {
    let port = free_port()?;
    let service = Service::spawn(
        "store-manager",
        &settings.bin("store-manager"),
        &[],
        &[
            ("DATABASE_URL", database_url.to_owned()),
            ("KAFKA_BOOTSTRAP_SERVERS", settings.brokers.clone()),
            ("STORE_MANAGER_ADDR", format!("127.0.0.1:{port}")),
            ("USER_EVENTS_TOPIC", user_topic.to_owned()),
            ("ORDER_EVENTS_TOPIC", order_topic.to_owned()),
            ("RUST_LOG", service_log_filter()),
        ],
        &settings.work,
        log_file,
    )?;
    Ok((service, format!("http://127.0.0.1:{port}")))
}

/// The processes besides the services whose CPU time is accounted for: the broker, and
/// the MariaDB server when `backend` is MariaDB.
pub(super) fn shared_processes(settings: &Settings, backend: Backend) -> Vec<(&'static str, u32)> {
    let mut processes = Vec::new();
    if let Some(pid) = settings.broker_pid {
        processes.push(("broker (tansu)", pid));
    }
    if backend == Backend::MariaDb
        && let Some(pid) = find_process("mariadbd")
    {
        processes.push(("mariadbd", pid));
    }
    processes
}

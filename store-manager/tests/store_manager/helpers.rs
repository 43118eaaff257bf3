//! store-manager's own test helpers, beside the generic ones of `test-support`:
//! `spawn_app`, the real application on a random port, with its own fresh database and
//! its own topics on the real broker (DESIGN §6, zero-to-production's test helpers), and
//! `spawn_binary`, the built binary as a child process.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::Value;
use store_manager::{Application, Settings};
use test_support::kafka::{self, Record};
use test_support::{Backend, TestDatabase};

/// One scenario, once per backend: `on_both_databases!(scenario_a, scenario_b)` expands
/// to `sqlite::scenario_a`, `mariadb::scenario_a`, ... each calling `scenario_a(backend)`.
/// (Declared before the test modules in `main.rs`, with `#[macro_use]`, so they see it.)
macro_rules! on_both_databases {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $scenario() {
                    super::$scenario(test_support::Backend::Sqlite).await;
                }
            )+
        }
        mod mariadb {
            $(
                #[actix_web::test]
                async fn $scenario() {
                    super::$scenario(test_support::Backend::MariaDb).await;
                }
            )+
        }
    };
}

pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) db: DatabaseConnection,
    pub(crate) topic: String,
    pub(crate) order_topic: String,
    pub(crate) bootstrap: String,
    pub(crate) server: actix_web::dev::ServerHandle,
    pub(crate) database_url: String,
    /// Test-only: arms the outbox actor's fault hook (the next rounds panic).
    pub(crate) outbox_faults: std::sync::Arc<supervision::FaultHook>,
    /// The application's run: how it stopped, once it did.
    pub(crate) run: actix_web::rt::task::JoinHandle<Result<(), store_manager::ShutdownError>>,
    /// Dropped last: the database outlives the app using it (`None`: the test owns it).
    #[expect(dead_code, reason = "held for its drop, after the app's, never read")]
    pub(crate) database: Option<TestDatabase>,
}

/// Settings for a test: port 0, a fast fallback poll, the given database and broker.
pub(crate) fn test_settings(
    database_url: &str,
    bootstrap: &str,
    topic: &str,
    order_topic: &str,
) -> Settings {
    let mut settings = Settings {
        database_url: database_url.to_owned(),
        listen_addr: "127.0.0.1:0".parse().expect("address"),
        ..Settings::default()
    };
    settings.kafka.bootstrap_servers = bootstrap.to_owned();
    settings.kafka.message_timeout = Duration::from_secs(20);
    settings.outbox.lease_duration = Duration::from_secs(30);
    settings.outbox.poll_interval = Duration::from_millis(200);
    settings.topics.user_events = topic.to_owned();
    settings.topics.order_events = order_topic.to_owned();
    settings
}

/// The app on the shared broker, with a fresh topic of 3 partitions.
pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    let bootstrap = kafka::bootstrap();
    spawn_app_on(backend, &bootstrap).await
}

/// The app on the broker at `bootstrap` (which must be up: the topic is created first).
pub(crate) async fn spawn_app_on(backend: Backend, bootstrap: &str) -> TestApp {
    let database = TestDatabase::new(backend).await;
    let url = database.url().to_owned();
    spawn_app_with(&url, Some(database), bootstrap).await
}

/// The app on the database at `database_url` (which the test keeps up) and the shared broker.
pub(crate) async fn spawn_app_on_database(database_url: &str) -> TestApp {
    spawn_app_with(database_url, None, &kafka::bootstrap()).await
}

async fn spawn_app_with(
    database_url: &str,
    database: Option<TestDatabase>,
    bootstrap: &str,
) -> TestApp {
    spawn_app_adjusted(database_url, database, bootstrap, |_| {}).await
}

/// The app on a fresh database of `backend` and the broker at `bootstrap`, with its
/// settings changed by `adjust` first.
pub(crate) async fn spawn_app_configured(
    backend: Backend,
    bootstrap: &str,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let database = TestDatabase::new(backend).await;
    let url = database.url().to_owned();
    spawn_app_adjusted(&url, Some(database), bootstrap, adjust).await
}

async fn spawn_app_adjusted(
    database_url: &str,
    database: Option<TestDatabase>,
    bootstrap: &str,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    test_support::init_logs();
    let topic = test_support::unique("user-events");
    let order_topic = test_support::unique("order-events");
    kafka::create_topic(bootstrap, &topic, 3).await;
    kafka::create_topic(bootstrap, &order_topic, 3).await;
    let mut settings = test_settings(database_url, bootstrap, &topic, &order_topic);
    adjust(&mut settings);
    let application = Application::build(settings)
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let db = application.database();
    let server = application.server_handle();
    let outbox_faults = application.outbox_faults();
    let run = actix_web::rt::spawn(application.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        topic,
        order_topic,
        bootstrap: bootstrap.to_owned(),
        server,
        database_url: database_url.to_owned(),
        outbox_faults,
        run,
        database,
    }
}

/// A second store-manager process on the same database and topics (replica tests).
pub(crate) struct Replica {
    pub(crate) address: String,
    pub(crate) server: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub(crate) async fn start_replica(&self) -> Replica {
        let settings = test_settings(
            &self.database_url,
            &self.bootstrap,
            &self.topic,
            &self.order_topic,
        );
        let application = Application::build(settings).await.expect("replica starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        let server = application.server_handle();
        actix_web::rt::spawn(application.run_until_stopped());
        Replica { address, server }
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn put_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// GET `path`, expecting 200 and JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    pub(crate) async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    /// Creates a user; panics unless the answer is 201. Returns the id.
    pub(crate) async fn create_user(
        &self,
        name: &str,
        email: &str,
        user_type_id: Option<i64>,
    ) -> i64 {
        let mut body = serde_json::json!({ "name": name, "email": email });
        if let Some(id) = user_type_id {
            body["user_type_id"] = id.into();
        }
        let response = self.post_json("/users", &body).await;
        assert_eq!(response.status(), 201, "creating {email}");
        let body: Value = response.json().await.expect("JSON");
        body["user_id"].as_i64().expect("user_id")
    }

    /// Every message on the test's topic once at least `expected` arrived (plus a short
    /// settle time to catch extras).
    pub(crate) async fn events(&self, expected: usize) -> Vec<Record> {
        self.events_on(&self.topic, expected).await
    }

    /// Like [`TestApp::events`], for the order events.
    pub(crate) async fn order_events(&self, expected: usize) -> Vec<Record> {
        self.events_on(&self.order_topic, expected).await
    }

    async fn events_on(&self, topic: &str, expected: usize) -> Vec<Record> {
        kafka::read_topic_async(
            &self.bootstrap,
            topic,
            expected,
            Duration::from_millis(1500),
            Duration::from_secs(60),
        )
        .await
    }
}

/// The real binary on port 0, its log appended to `log`; returns it with the address it
/// bound (read from its `store-manager listening` line). Every start holds the outbox
/// lease as `replica` (the default id has the port in it, and the port changes), so a
/// restart takes it back at once.
pub(crate) fn spawn_binary(
    database_url: &str,
    bootstrap: &str,
    topic: &str,
    replica: &str,
    log: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, std::net::SocketAddr) {
    let from = test_support::process::log_length(log);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_store-manager"));
    command
        .current_dir(log.parent().expect("log directory"))
        .env("DATABASE_URL", database_url)
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("USER_EVENTS_TOPIC", topic)
        .env("STORE_MANAGER_ADDR", "127.0.0.1:0")
        .env("OUTBOX_REPLICA_ID", replica)
        .env("OUTBOX_POLL_INTERVAL_MS", "200")
        .env("RUST_LOG", "info,librdkafka=warn,sqlx=warn")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    let mut child = test_support::process::spawn_logged(&mut command, log);
    let addr = test_support::process::bound_address(
        log,
        from,
        "store-manager listening",
        &mut child,
        Duration::from_secs(30),
    );
    (child, addr)
}

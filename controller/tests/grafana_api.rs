//! The Grafana client against a validating stub of Grafana's documented HTTP API (folders,
//! datasources, dashboards by uid, search). No Grafana server can be installed on these
//! machines; the stub checks what a real server checks for these calls (auth, required
//! fields, uid format, folder existence) and records every request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use ecs_operator::actuate::grafana::{folder_uid, GrafanaAuth, GrafanaClient};
use serde_json::{json, Value};

const TOKEN: &str = "glsa_test_token";

#[derive(Default)]
struct Grafana {
    folders: BTreeMap<String, String>,
    datasources: BTreeMap<String, Value>,
    /// uid -> (folder uid, dashboard)
    dashboards: BTreeMap<String, (String, Value)>,
    requests: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Grafana>>;

fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 40
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The admin user of the stub, for basic authentication ("admin:secret" in base64).
const BASIC: &str = "Basic YWRtaW46c2VjcmV0";

fn authorised(headers: &HeaderMap) -> bool {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    given == Some(&format!("Bearer {TOKEN}")) || given == Some(BASIC)
}

type Reply = (StatusCode, Json<Value>);

fn reply(status: StatusCode, body: Value) -> Reply {
    (status, Json(body))
}

async fn record(
    State(g): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    g.lock()
        .unwrap()
        .requests
        .push((method.to_string(), uri.path().to_string()));
    if !authorised(&headers) {
        return axum::response::IntoResponse::into_response(reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized"}),
        ));
    }
    next.run(req).await
}

async fn get_folder(State(g): State<Shared>, Path(uid): Path<String>) -> Reply {
    match g.lock().unwrap().folders.get(&uid) {
        Some(title) => reply(StatusCode::OK, json!({"uid": uid, "title": title})),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"message": "folder not found"}),
        ),
    }
}

async fn create_folder(State(g): State<Shared>, Json(body): Json<Value>) -> Reply {
    let (Some(uid), Some(title)) = (body["uid"].as_str(), body["title"].as_str()) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "title and uid are required"}),
        );
    };
    if !valid_uid(uid) || title.is_empty() {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "invalid uid or title"}),
        );
    }
    let mut g = g.lock().unwrap();
    if g.folders.contains_key(uid) {
        return reply(
            StatusCode::CONFLICT,
            json!({"message": "a folder with the same uid already exists"}),
        );
    }
    g.folders.insert(uid.to_string(), title.to_string());
    reply(StatusCode::OK, json!({"uid": uid, "title": title}))
}

async fn get_datasource(State(g): State<Shared>, Path(uid): Path<String>) -> Reply {
    match g.lock().unwrap().datasources.get(&uid) {
        Some(ds) => reply(StatusCode::OK, ds.clone()),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"message": "Data source not found"}),
        ),
    }
}

async fn create_datasource(State(g): State<Shared>, Json(body): Json<Value>) -> Reply {
    let ok = body["name"].is_string()
        && body["type"].is_string()
        && matches!(body["access"].as_str(), Some("proxy" | "direct"))
        && body["url"].as_str().is_some_and(|u| u.starts_with("http"))
        && body["uid"].as_str().is_some_and(valid_uid);
    if !ok {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "invalid datasource"}),
        );
    }
    let uid = body["uid"].as_str().unwrap().to_string();
    g.lock().unwrap().datasources.insert(uid, body.clone());
    reply(
        StatusCode::OK,
        json!({"message": "Datasource added", "datasource": body}),
    )
}

async fn upsert_dashboard(State(g): State<Shared>, Json(body): Json<Value>) -> Reply {
    let dashboard = &body["dashboard"];
    let uid = dashboard["uid"].as_str().unwrap_or_default().to_string();
    let title_ok = dashboard["title"].as_str().is_some_and(|t| !t.is_empty());
    if !dashboard.is_object() || !valid_uid(&uid) || !title_ok || !body["overwrite"].is_boolean() {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "dashboard with uid and title required"}),
        );
    }
    let folder = body["folderUid"].as_str().unwrap_or_default().to_string();
    let mut g = g.lock().unwrap();
    if !folder.is_empty() && !g.folders.contains_key(&folder) {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "folder not found"}),
        );
    }
    if g.dashboards.contains_key(&uid) && body["overwrite"] != true {
        return reply(
            StatusCode::PRECONDITION_FAILED,
            json!({"status": "name-exists"}),
        );
    }
    g.dashboards
        .insert(uid.clone(), (folder, dashboard.clone()));
    reply(
        StatusCode::OK,
        json!({"uid": uid, "status": "success", "version": 1, "url": format!("/d/{uid}")}),
    )
}

async fn get_dashboard(State(g): State<Shared>, Path(uid): Path<String>) -> Reply {
    match g.lock().unwrap().dashboards.get(&uid) {
        Some((folder, d)) => {
            let mut d = d.clone();
            d["id"] = json!(7);
            d["version"] = json!(3);
            reply(
                StatusCode::OK,
                json!({"dashboard": d, "meta": {"folderUid": folder}}),
            )
        }
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"message": "Dashboard not found"}),
        ),
    }
}

async fn delete_dashboard(State(g): State<Shared>, Path(uid): Path<String>) -> Reply {
    match g.lock().unwrap().dashboards.remove(&uid) {
        Some((_, d)) => reply(
            StatusCode::OK,
            json!({"title": d["title"], "message": "Dashboard deleted"}),
        ),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"message": "Dashboard not found"}),
        ),
    }
}

async fn search(State(g): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Reply {
    let g = g.lock().unwrap();
    let hits: Vec<Value> = g
        .dashboards
        .iter()
        .filter(|(_, (_, d))| {
            q.get("tag").is_none_or(|tag| d["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag.as_str())))
        })
        .map(|(uid, (folder, d))| json!({"uid": uid, "title": d["title"], "tags": d["tags"], "type": "dash-db", "folderUid": folder}))
        .collect();
    reply(StatusCode::OK, Value::Array(hits))
}

fn stub(shared: &Shared) -> Router {
    Router::new()
        .route("/api/folders/{uid}", get(get_folder))
        .route("/api/folders", post(create_folder))
        .route("/api/datasources/uid/{uid}", get(get_datasource))
        .route("/api/datasources", post(create_datasource))
        .route("/api/dashboards/db", post(upsert_dashboard))
        .route(
            "/api/dashboards/uid/{uid}",
            get(get_dashboard).delete(delete_dashboard),
        )
        .route("/api/search", get(search))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared.clone())
}

async fn start() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = stub(&shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}

fn rendered(names: &[&str]) -> ecs_operator::render::monitoring::MonitoringOutput {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let set = ecs_operator::manifest::load_paths(&[dir], None).unwrap();
    let manifests: Vec<_> = set
        .manifests
        .iter()
        .filter(|m| names.contains(&m.name()))
        .map(|m| &m.manifest)
        .collect();
    ecs_operator::render::monitoring::render(&manifests, &ecs_operator::Settings::local_defaults())
}

fn mutating(g: &Shared) -> Vec<(String, String)> {
    g.lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(m, _)| m != "GET")
        .cloned()
        .collect()
}

#[tokio::test]
async fn dashboards_folders_and_the_datasource_are_created_then_left_alone_when_unchanged() {
    let (url, g) = start().await;
    let output = rendered(&["pizza-service", "hello", "checkout"]);
    let mut client = GrafanaClient::new(
        &url,
        GrafanaAuth::Token(TOKEN.into()),
        Some("http://prometheus:9090".into()),
    );
    let report = client.sync(&output, true).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.datasource_created);
    assert_eq!(report.upserted.len(), 3);
    {
        let state = g.lock().unwrap();
        assert_eq!(state.dashboards["ecs-pizza-service"].0, folder_uid("pizza"));
        assert!(state.folders.contains_key(&folder_uid("shop")));
        assert!(state.folders.contains_key(&folder_uid("web")));
    }
    let before = mutating(&g).len();
    let report = client.sync(&output, true).await;
    assert!(report.errors.is_empty() && report.upserted.is_empty() && report.deleted.is_empty());
    assert_eq!(
        mutating(&g).len(),
        before,
        "an unchanged render writes nothing"
    );

    // A restarted operator compares with what Grafana holds and still writes nothing.
    let mut restarted = GrafanaClient::new(
        &url,
        GrafanaAuth::Token(TOKEN.into()),
        Some("http://prometheus:9090".into()),
    );
    let report = restarted.sync(&output, true).await;
    assert!(report.upserted.is_empty(), "{report:?}");
    assert_eq!(mutating(&g).len(), before);
}

#[tokio::test]
async fn dashboards_of_removed_services_are_deleted_only_when_pruning_is_allowed_and_only_if_managed(
) {
    let (url, g) = start().await;
    let mut client = GrafanaClient::new(&url, GrafanaAuth::Token(TOKEN.into()), None);
    client
        .sync(&rendered(&["pizza-service", "hello"]), true)
        .await;
    g.lock().unwrap().dashboards.insert(
        "handmade".into(),
        (
            String::new(),
            json!({"uid": "handmade", "title": "Mine", "tags": ["team-made"]}),
        ),
    );
    let only_pizza = rendered(&["pizza-service"]);
    let report = client.sync(&only_pizza, false).await;
    assert!(
        report.deleted.is_empty(),
        "no deletion while the source is incomplete"
    );
    assert!(g.lock().unwrap().dashboards.contains_key("ecs-hello"));
    let report = client.sync(&only_pizza, true).await;
    assert_eq!(report.deleted, vec!["ecs-hello".to_string()]);
    let state = g.lock().unwrap();
    assert!(
        state.dashboards.contains_key("handmade"),
        "a dashboard without the ecs-operator tag is never touched"
    );
    assert!(state.dashboards.contains_key("ecs-pizza-service"));
}

#[tokio::test]
async fn a_wrong_token_is_reported_and_changes_nothing() {
    let (url, g) = start().await;
    let mut client = GrafanaClient::new(
        &url,
        GrafanaAuth::Token("wrong".into()),
        Some("http://prometheus:9090".into()),
    );
    let report = client.sync(&rendered(&["pizza-service"]), true).await;
    assert!(!report.errors.is_empty());
    assert!(
        report.errors.iter().any(|e| e.contains("401")),
        "{:?}",
        report.errors
    );
    assert!(g.lock().unwrap().dashboards.is_empty());
}

#[tokio::test]
async fn the_bootstrap_admin_user_can_authenticate_with_basic_auth() {
    let (url, g) = start().await;
    let auth = GrafanaAuth::Basic("admin".into(), "secret".into());
    let mut client = GrafanaClient::new(&url, auth, None);
    let report = client.sync(&rendered(&["hello"]), true).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(g.lock().unwrap().dashboards.contains_key("ecs-hello"));
}

/// The stub over HTTPS with a certificate for `localhost` signed by a private CA, as the
/// bootstrap's trial setup serves Grafana. Returns the URL and the CA certificate (PEM).
async fn start_tls() -> (String, String) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![server.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let app = stub(&Shared::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    (url, ca.pem())
}

#[tokio::test]
async fn grafana_behind_a_private_ca_is_reached_with_the_ca_file_of_the_settings_and_refused_without(
) {
    let (url, ca) = start_tls().await;
    let output = rendered(&["hello"]);
    let mut untrusting = GrafanaClient::new(&url, GrafanaAuth::Token(TOKEN.into()), None);
    let report = untrusting.sync(&output, true).await;
    assert!(
        !report.errors.is_empty(),
        "a certificate from an unknown CA must be refused: {report:?}"
    );
    let mut trusting = GrafanaClient::new(&url, GrafanaAuth::Token(TOKEN.into()), None)
        .trusting_ca(ca.as_bytes())
        .unwrap();
    let report = trusting.sync(&output, true).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.upserted.len(), 1);
    assert!(
        GrafanaClient::new(&url, GrafanaAuth::Token(TOKEN.into()), None)
            .trusting_ca(b"not a certificate")
            .is_err()
    );
}

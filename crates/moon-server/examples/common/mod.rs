//! What the benchmark examples share: a client acting as a user made through the library.

use moon_db::Db;

/// A client sending an API token of a new user of `role` (bound to `agent_code` for an agent),
/// made through the library as `moon user add` and `moon token create` would.
pub async fn client_as(db: &Db, name: &str, role: &str, agent_code: Option<&str>) -> reqwest::Client {
    let op = moon_server::http::Principal::operator();
    let binding = moon_server::auth::users::Binding::parse(role, None, agent_code).unwrap();
    let hasher = moon_server::auth::password::Hasher::new(1);
    let password = moon_server::auth::password::generate().unwrap();
    let user = moon_server::auth::users::create(db, &hasher, name, &password, binding, &op).await.unwrap();
    let (_, token) = moon_server::auth::token::create(db, user.id, "bench", None, &op).await.unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

//! Keycloak's Admin REST API, for what a test needs an administrator for: a client of
//! its own with a back-channel logout URL on the test's port, and ending sessions.

use serde_json::{json, Value};

use super::keycloak_url;

pub struct KeycloakAdmin {
    http: reqwest::Client,
    base: String,
}

impl KeycloakAdmin {
    pub async fn connect() -> KeycloakAdmin {
        KeycloakAdmin { http: reqwest::Client::new(), base: format!("{}/admin/realms/latchkey", keycloak_url()) }
    }

    /// A fresh admin token for each call: they live only 60 s.
    async fn token(&self) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/realms/master/protocol/openid-connect/token", keycloak_url()))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", "admin"),
                ("password", "admin"),
            ])
            .send()
            .await
            .expect("admin token request")
            .json()
            .await
            .expect("admin token JSON");
        answer["access_token"].as_str().expect("access_token").to_string()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let response = request.bearer_auth(self.token().await).send().await.expect("admin API");
        assert!(response.status().is_success(), "admin API answered {}", response.status());
        response
    }

    /// A confidential client like the dev realm's `latchkey-test`, whose back-channel
    /// logout goes to `backchannel_url`, with `sid` in logout tokens when
    /// `session_required`. Returns (client_id, secret).
    pub async fn create_client(&self, backchannel_url: &str, session_required: bool) -> (String, String) {
        let client_id = format!("latchkey-bc-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let secret = uuid::Uuid::new_v4().to_string();
        let client = json!({
            "clientId": client_id, "enabled": true, "publicClient": false,
            "clientAuthenticatorType": "client-secret", "secret": secret,
            "standardFlowEnabled": true, "directAccessGrantsEnabled": false, "consentRequired": false,
            "frontchannelLogout": false, "redirectUris": ["http://127.0.0.1/*"], "webOrigins": ["+"],
            "attributes": {
                "post.logout.redirect.uris": "http://127.0.0.1/*",
                "backchannel.logout.url": backchannel_url,
                "backchannel.logout.session.required": session_required.to_string(),
                "pkce.code.challenge.method": "S256",
            },
        });
        self.send(self.http.post(format!("{}/clients", self.base)).json(&client)).await;
        (client_id, secret)
    }

    pub async fn delete_client(&self, client_id: &str) {
        let found: Value = self
            .send(self.http.get(format!("{}/clients", self.base)).query(&[("clientId", client_id)]))
            .await
            .json()
            .await
            .expect("clients");
        if let Some(id) = found[0]["id"].as_str() {
            self.send(self.http.delete(format!("{}/clients/{id}", self.base))).await;
        }
    }

    pub async fn user_id(&self, username: &str) -> String {
        let users: Value = self
            .send(self.http.get(format!("{}/users", self.base)).query(&[("username", username), ("exact", "true")]))
            .await
            .json()
            .await
            .expect("users");
        users[0]["id"].as_str().expect("user id").to_string()
    }

    /// A new user of the realm with a verified e-mail and names (so Keycloak asks for no
    /// profile update); password = username. Remove it with `delete_user`.
    pub async fn create_user(&self) -> String {
        let username = format!("user-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let user = json!({
            "username": username, "enabled": true, "email": format!("{username}@example.com"), "emailVerified": true,
            "firstName": "Test", "lastName": "Person", "requiredActions": [],
            "credentials": [{ "type": "password", "value": username, "temporary": false }],
        });
        self.send(self.http.post(format!("{}/users", self.base)).json(&user)).await;
        username
    }

    pub async fn delete_user(&self, username: &str) {
        let id = self.user_id(username).await;
        self.send(self.http.delete(format!("{}/users/{id}", self.base))).await;
    }

    /// The realm role `role`'s representation, as role-mapping calls take it.
    async fn realm_role(&self, role: &str) -> Value {
        self.send(self.http.get(format!("{}/roles/{role}", self.base))).await.json().await.expect("role")
    }

    /// Grants `username` the realm role `role`.
    pub async fn grant_realm_role(&self, username: &str, role: &str) {
        let (id, role) = (self.user_id(username).await, self.realm_role(role).await);
        let url = format!("{}/users/{id}/role-mappings/realm", self.base);
        self.send(self.http.post(url).json(&json!([role]))).await;
    }

    /// Takes the realm role `role` away from `username`.
    pub async fn remove_realm_role(&self, username: &str, role: &str) {
        let (id, role) = (self.user_id(username).await, self.realm_role(role).await);
        let url = format!("{}/users/{id}/role-mappings/realm", self.base);
        self.send(self.http.delete(url).json(&json!([role]))).await;
    }

    /// Changes `username`'s first name (the rest of the user as it is).
    pub async fn set_first_name(&self, username: &str, first_name: &str) {
        let id = self.user_id(username).await;
        let url = format!("{}/users/{id}", self.base);
        let mut user: Value = self.send(self.http.get(&url)).await.json().await.expect("user");
        user["firstName"] = json!(first_name);
        self.send(self.http.put(url).json(&user)).await;
    }

    /// The ids of `username`'s Keycloak sessions (each is a `sid`).
    pub async fn session_ids(&self, username: &str) -> Vec<String> {
        let id = self.user_id(username).await;
        let sessions: Value = self
            .send(self.http.get(format!("{}/users/{id}/sessions", self.base)))
            .await
            .json()
            .await
            .expect("sessions");
        sessions.as_array().into_iter().flatten().filter_map(|s| s["id"].as_str().map(str::to_string)).collect()
    }

    /// Ends one Keycloak user session (its id is the `sid` claim).
    pub async fn delete_session(&self, sid: &str) {
        self.send(self.http.delete(format!("{}/sessions/{sid}", self.base))).await;
    }

    /// Logs a user out of every Keycloak session.
    pub async fn logout_user(&self, username: &str) {
        let id = self.user_id(username).await;
        self.send(self.http.post(format!("{}/users/{id}/logout", self.base))).await;
    }

    /// A new RSA signing key with `priority` above the realm's own, so Keycloak signs
    /// with it from now on. Returns the component id and the new key's kid.
    pub async fn add_signing_key(&self, priority: u32) -> SigningKey {
        let realm: Value = self.send(self.http.get(&self.base)).await.json().await.expect("realm");
        let name = format!("rotated-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let component = json!({
            "name": name, "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm["id"],
            "config": { "priority": [priority.to_string()], "enabled": ["true"], "active": ["true"], "keySize": ["2048"] },
        });
        let created = self.send(self.http.post(format!("{}/components", self.base)).json(&component)).await;
        let id = created
            .headers()
            .get("location")
            .and_then(|location| location.to_str().ok())
            .and_then(|location| location.rsplit('/').next())
            .expect("component location")
            .to_string();
        let keys: Value = self.send(self.http.get(format!("{}/keys", self.base))).await.json().await.expect("keys");
        let kid = keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|key| key["providerId"] == id.as_str() && key["use"] == "SIG")
            .and_then(|key| key["kid"].as_str())
            .expect("the new key's kid")
            .to_string();
        SigningKey { id, kid }
    }

    pub async fn remove_component(&self, key: &SigningKey) {
        self.send(self.http.delete(format!("{}/components/{}", self.base, key.id))).await;
    }
}

pub struct SigningKey {
    pub id: String,
    pub kid: String,
}

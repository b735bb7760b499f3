//! The roles and groups a sign-in proved: read from the provider's verified claims,
//! changed by the app's `profile` hook if it likes, kept with the session, and checked by
//! the role guards.

use serde::Serialize;

/// Realm roles, this client's roles and groups, as a sign-in's verified claims said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Roles {
    /// Realm-wide roles (Keycloak's `realm_access.roles`).
    pub realm: Vec<String>,
    /// Roles of this app's client (Keycloak's `resource_access.<client_id>.roles`).
    pub client: Vec<String>,
    /// Groups (Keycloak's `groups`, by name).
    pub groups: Vec<String>,
}

impl Roles {
    /// Whether the realm role `name` was granted.
    pub fn has_realm_role(&self, name: &str) -> bool {
        self.realm.iter().any(|role| role == name)
    }

    /// Whether this client's role `name` was granted.
    pub fn has_client_role(&self, name: &str) -> bool {
        self.client.iter().any(|role| role == name)
    }

    /// Whether the person is in the group `name` (with or without a leading `/`).
    pub fn in_group(&self, name: &str) -> bool {
        let name = name.trim_start_matches('/');
        self.groups.iter().any(|group| group.trim_start_matches('/') == name)
    }
}

#[cfg(test)]
mod tests {
    use super::Roles;
    #[test]
    fn groups_match_with_or_without_their_leading_slash() {
        let roles = Roles { realm: vec!["admin".into()], client: vec![], groups: vec!["/engineering".into()] };
        assert!(roles.in_group("engineering") && roles.in_group("/engineering") && !roles.in_group("sales"));
        assert!(roles.has_realm_role("admin") && !roles.has_client_role("admin"));
    }
}

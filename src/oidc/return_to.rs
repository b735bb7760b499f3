//! Where to send the browser after sign-in: only a path on this site. Anything that a
//! browser could read as another origin (`//host`, `/\host`, a scheme, their encoded
//! forms, control characters) falls back to `/`.

use rocket::http::uri::Origin;

const MAX_LEN: usize = 2048;

pub(crate) fn sanitize(raw: Option<&str>) -> String {
    raw.filter(|path| is_safe(path)).map(str::to_string).unwrap_or_else(|| "/".to_string())
}

fn is_safe(path: &str) -> bool {
    if path.len() > MAX_LEN || !path.starts_with('/') {
        return false;
    }
    // No raw backslash anywhere, the query included: browsers read one as a slash in
    // places, and no path of this site needs one (an encoded %5C in a query still passes).
    if path.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return false;
    }
    // Judge the path as given and once more percent-decoded (some servers and browsers
    // decode once before they look); the query may hold encoded spaces and slashes.
    let path_part = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path_part);
    [path_part, decoded.as_str()].iter().all(|candidate| {
        !candidate.starts_with("//") && !candidate.contains('\\') && !candidate.chars().any(char::is_control)
    }) && Origin::parse(path).is_ok()
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn same_site_paths_are_kept() {
        for path in ["/", "/sessions", "/a/b?c=d&e=f", "/search?q=a+b", "/search?q=a%20b&next=%2F%2Fx"] {
            assert_eq!(sanitize(Some(path)), path);
        }
    }

    #[test]
    fn anything_pointing_elsewhere_falls_back_to_root() {
        for path in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/?\\",
            "/search?next=\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/ /evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(sanitize(Some(path)), "/", "{path:?} was kept");
        }
        assert_eq!(sanitize(None), "/");
        assert_eq!(sanitize(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }
}

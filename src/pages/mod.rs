//! latchkey's own pages, rendered with Tera from templates compiled into the crate: an app
//! needs no copy of them and no particular working directory. An app replaces any of them
//! with a file of the same name under `latchkey/` in its `template_dir` (e.g.
//! `templates/latchkey/sessions.html.tera`).
//!
//! The layout is made of partials (`latchkey/head`, `latchkey/header`, `latchkey/footer`)
//! that `latchkey/base` includes. An app's own pages share it by including them, not by
//! extending `latchkey/base`: an engine such as rocket_dyn_templates loads every file of
//! `template_dir` before the app can add latchkey's templates, and Tera resolves a parent
//! template at load but an included one only at render.

use std::path::{Path, PathBuf};

use rocket::response::content::RawHtml;
use serde::Serialize;
use tera::Tera;

use crate::error::{chain, Error};

/// The built-in templates, by name (each registered as `latchkey/<name>`).
const TEMPLATES: [(&str, &str); 11] = [
    ("head", include_str!("templates/head.html.tera")),
    ("header", include_str!("templates/header.html.tera")),
    ("footer", include_str!("templates/footer.html.tera")),
    ("base", include_str!("templates/base.html.tera")),
    ("admin_user", include_str!("templates/admin_user.html.tera")),
    ("admin_users", include_str!("templates/admin_users.html.tera")),
    ("choose_provider", include_str!("templates/choose_provider.html.tera")),
    ("error", include_str!("templates/error.html.tera")),
    ("logout", include_str!("templates/logout.html.tera")),
    ("sessions", include_str!("templates/sessions.html.tera")),
    ("signed_out", include_str!("templates/signed_out.html.tera")),
];

/// The stylesheet of the built-in pages.
pub(crate) const STYLESHEET: &str = include_str!("latchkey.css");

const OVERRIDE_SUFFIX: &str = ".html.tera";

/// The templates, the built-in ones replaced by the app's where it has its own.
pub(crate) struct Pages {
    tera: Tera,
}

/// Why the app's templates could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PagesError {
    #[error("cannot read the template directory {dir}")]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the template {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the templates do not compile")]
    Compile(#[source] tera::Error),
}

impl Pages {
    /// The built-in templates, and the app's `*.html.tera` files under `overrides` (its
    /// `template_dir/latchkey`) in their place or beside them. A missing directory is
    /// normal: then every page is the built-in one.
    pub fn load(overrides: &Path) -> Result<Pages, PagesError> {
        let mut templates: Vec<(String, String)> =
            TEMPLATES.iter().map(|(name, text)| (format!("latchkey/{name}"), text.to_string())).collect();
        for (name, text) in app_templates(overrides)? {
            match templates.iter_mut().find(|(known, _)| *known == name) {
                Some(built_in) => built_in.1 = text,
                None => templates.push((name, text)),
            }
        }
        let mut tera = Tera::default();
        // Every one of these is HTML: escape always, whatever the name.
        tera.autoescape_on(vec![""]);
        tera.add_raw_templates(templates).map_err(PagesError::Compile)?;
        Ok(Pages { tera })
    }

    /// Renders `latchkey/<name>` with `context`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<RawHtml<String>, Error> {
        let context = tera::Context::from_serialize(context).map_err(|e| Error::internal_from("page context", e))?;
        self.tera
            .render(&format!("latchkey/{name}"), &context)
            .map(RawHtml)
            .map_err(|e| Error::internal_from(format!("rendering the page `{name}`"), e))
    }

    /// Renders an error page; when even that fails (an app's broken template), a bare one,
    /// since an error page must never turn into another error.
    pub fn render_or_fallback(&self, name: &str, context: &impl Serialize, title: &str) -> RawHtml<String> {
        self.render(name, context).unwrap_or_else(|error| {
            tracing::error!("{}", chain(&error));
            let title: String = title.chars().filter(|c| c.is_alphanumeric() || " -,.".contains(*c)).collect();
            RawHtml(format!("<!doctype html><title>{title}</title><h1>{title}</h1>"))
        })
    }
}

/// The app's own `*.html.tera` files directly under `dir`, named `latchkey/<stem>`.
fn app_templates(dir: &Path) -> Result<Vec<(String, String)>, PagesError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(PagesError::ReadDir { dir: dir.to_path_buf(), source }),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| PagesError::ReadDir { dir: dir.to_path_buf(), source })?.path();
        let Some(stem) =
            path.file_name().and_then(|name| name.to_str()).and_then(|name| name.strip_suffix(OVERRIDE_SUFFIX))
        else {
            continue;
        };
        let text =
            std::fs::read_to_string(&path).map_err(|source| PagesError::ReadFile { path: path.clone(), source })?;
        found.push((format!("latchkey/{stem}"), text));
    }
    Ok(found)
}

/// Adds latchkey's built-in templates to an app's own Tera (for instance
/// `rocket_dyn_templates`' engine, in `Template::try_custom`), so that the app's pages
/// share latchkey's layout: they include `latchkey/head` in their `<head>` and
/// `latchkey/header` and `latchkey/footer` in their `<body>`, and are rendered with a
/// [`Layout`](crate::Layout) in the context as `layout`. Templates the app already has
/// under those names (its overrides) are kept.
///
/// ```
/// let mut tera = tera::Tera::default();
/// tera.add_raw_template(
///     "home.html",
///     r#"<head>{% include "latchkey/head" %}</head><body>{% include "latchkey/header" %}</body>"#,
/// )?;
/// latchkey::register_templates(&mut tera)?;
/// assert!(tera.get_template_names().any(|name| name == "latchkey/header"));
/// # Ok::<(), tera::Error>(())
/// ```
pub fn register_templates(tera: &mut Tera) -> tera::Result<()> {
    let missing: Vec<(String, &str)> = TEMPLATES
        .iter()
        .map(|(name, text)| (format!("latchkey/{name}"), *text))
        .filter(|(name, _)| tera.get_template(name).is_err())
        .collect();
    tera.add_raw_templates(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("latchkey-pages-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    }

    #[test]
    fn without_an_override_directory_the_built_in_pages_render_escaped() {
        let pages = Pages::load(Path::new("/nonexistent/latchkey")).unwrap_or_else(|e| panic!("{e}"));
        let html = pages
            .render("signed_out", &serde_json::json!({ "message": "<script>", "layout": { "site_name": "x", "urls": { "home": "/", "login": "/auth/login", "stylesheet": "/s.css" } } }))
            .unwrap_or_else(|e| panic!("{e}"))
            .0;
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
    }

    #[test]
    fn an_app_template_replaces_the_built_in_one_and_may_extend_the_base() {
        let dir = scratch_dir(&[(
            "signed_out.html.tera",
            r#"{% extends "latchkey/base" %}{% block content %}<p id="own">Bye: {{ message }}</p>{% endblock content %}"#,
        )]);
        let pages = Pages::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let html = pages
            .render("signed_out", &serde_json::json!({ "message": "ok", "layout": { "site_name": "Notes", "urls": { "home": "/", "login": "/l", "stylesheet": "/s.css" } } }))
            .unwrap_or_else(|e| panic!("{e}"))
            .0;
        assert!(html.contains(r#"<p id="own">Bye: ok</p>"#) && html.contains("Notes"), "{html}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_broken_app_template_is_refused_at_load() {
        let dir = scratch_dir(&[("error.html.tera", "{% if %}")]);
        assert!(matches!(Pages::load(&dir), Err(PagesError::Compile(_))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn registering_keeps_the_apps_own_version() {
        let mut tera = Tera::default();
        tera.add_raw_template("latchkey/error", "mine").unwrap_or_else(|e| panic!("{e}"));
        register_templates(&mut tera).unwrap_or_else(|e| panic!("{e}"));
        let rendered = tera.render("latchkey/error", &tera::Context::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rendered, "mine");
        assert!(tera.get_template("latchkey/base").is_ok());
    }
}

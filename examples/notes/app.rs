//! The notes app: a public front page, a guarded page of the person's own notes, and a
//! form to add one. latchkey lives under `/account`, keeps its tables in the schema
//! `auth.schema` names, and shares the app's pool; the app keeps its `notes` table and
//! its own migration history in `public`.

use latchkey::{AuthenticatedUser, CsrfCheck, Event, Hooks, Latchkey, Layout, OptionalUser, Profile, Refusal, SignIn};
use rocket::fairing::{self, AdHoc};
use rocket::figment::Figment;
use rocket::form::Form;
use rocket::response::Redirect;
use rocket::{get, post, routes, Build, FromForm, Orbit, Rocket};
use rocket_db_pools::{sqlx, Connection, Database};
use rocket_dyn_templates::{context, Template};

/// The app's own database; latchkey uses it too.
#[derive(Database)]
#[database("notes")]
pub struct Notes(sqlx::PgPool);

/// The whole of the app's wiring.
pub fn rocket(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(Notes::init())
        .attach(AdHoc::try_on_ignite("Notes migrations", migrate))
        .attach(Latchkey::fairing().base_path("/account").database::<Notes>().hooks(Welcome).site_name("Notes"))
        .attach(Template::try_custom(|engines| Ok(latchkey::register_templates(&mut engines.tera)?)))
        .mount("/", routes![front, notes, add])
        .register("/", latchkey::catchers())
}

/// The app's own migrations (`examples/notes/migrations`), with their own history.
async fn migrate(rocket: Rocket<Build>) -> fairing::Result {
    let Some(db) = Notes::fetch(&rocket) else { return Err(rocket) };
    match sqlx::migrate!("examples/notes/migrations").run(&**db).await {
        Ok(()) => Ok(rocket),
        Err(error) => {
            tracing::error!("notes migrations failed: {error}");
            Err(rocket)
        }
    }
}

/// What the app adapts: a username kept with each person, and a first note for newcomers.
struct Welcome;

#[latchkey::async_trait]
impl Hooks for Welcome {
    async fn profile(&self, sign_in: &SignIn<'_>, mut profile: Profile, _: &Rocket<Orbit>) -> Result<Profile, Refusal> {
        if let Some(username) = sign_in.claims.str("preferred_username") {
            profile.extra.insert("username".into(), username.into());
        }
        Ok(profile)
    }

    async fn on_event(&self, event: &Event, rocket: &Rocket<Orbit>) {
        let (Event::SignedIn { user_id, new_user: true, .. }, Some(db)) = (event, Notes::fetch(rocket)) else { return };
        let welcome = sqlx::query("INSERT INTO notes (user_id, text) VALUES ($1, 'Welcome to your notes.')")
            .bind(user_id)
            .execute(&**db)
            .await;
        if let Err(error) = welcome {
            tracing::warn!("no welcome note: {error}");
        }
    }
}

#[get("/")]
fn front(user: OptionalUser, layout: Layout<'_>) -> Template {
    Template::render("front", context! { layout, signed_in: user.0.is_some() })
}

#[get("/notes")]
async fn notes(
    user: AuthenticatedUser,
    layout: Layout<'_>,
    mut db: Connection<Notes>,
) -> Result<Template, latchkey::Error> {
    let notes: Vec<(String,)> = sqlx::query_as("SELECT text FROM notes WHERE user_id = $1 ORDER BY id")
        .bind(user.id)
        .fetch_all(&mut **db)
        .await
        .map_err(latchkey::Error::from)?;
    let username = user.extra.get("username").and_then(|name| name.as_str());
    let notes: Vec<String> = notes.into_iter().map(|(text,)| text).collect();
    Ok(Template::render("notes", context! { layout, username, notes }))
}

#[derive(FromForm)]
struct NewNote<'r> {
    text: &'r str,
    csrf_token: Option<&'r str>,
}

#[post("/notes", data = "<form>")]
async fn add(
    form: Form<NewNote<'_>>,
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    mut db: Connection<Notes>,
) -> Result<Redirect, latchkey::Error> {
    csrf.verify(&user, form.csrf_token)?;
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > 2000 {
        return Err(latchkey::Error::BadRequest("a note is 1 to 2000 characters".into()));
    }
    sqlx::query("INSERT INTO notes (user_id, text) VALUES ($1, $2)")
        .bind(user.id)
        .bind(text)
        .execute(&mut **db)
        .await
        .map_err(latchkey::Error::from)?;
    Ok(Redirect::to("/notes"))
}

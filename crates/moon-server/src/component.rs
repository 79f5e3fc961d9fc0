//! What a component declares about itself: its API routes (with their OpenAPI), its pages, the
//! links `GET /` lists, its background jobs and its readiness conditions.
//!
//! The wiring assembles a target by looping over the descriptions of the components it names
//! (see `targets.rs` and `app.rs`); it never needs to know what a component contains. A component
//! builds its description from the sub-states it needs, so nothing here names the application
//! state.

use axum::Router;
use moon_http::health::ReadyCheck;
use moon_jobs::Pending;
use utoipa_axum::router::OpenApiRouter;

/// One component, as the wiring sees it.
pub struct Description<S> {
    /// The component's name in logs and in `GET /` (`agent`, `integration`, ...).
    pub name: &'static str,
    /// JSON routes, with the OpenAPI paths generated from their handlers.
    pub api: OpenApiRouter<S>,
    /// Routes outside the API document (the console's HTML pages).
    pub pages: Router<S>,
    /// `(name, path)` pairs `GET /` lists for this component.
    pub links: Vec<(&'static str, &'static str)>,
    /// Background work started with the server and stopped at shutdown.
    pub jobs: Vec<Pending>,
    /// Conditions `/readyz` checks besides the operational database.
    pub ready: Vec<(&'static str, ReadyCheck)>,
}

impl<S> std::fmt::Debug for Description<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let jobs: Vec<&str> = self.jobs.iter().map(Pending::name).collect();
        let ready: Vec<&str> = self.ready.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Description")
            .field("name", &self.name)
            .field("links", &self.links)
            .field("jobs", &jobs)
            .field("ready", &ready)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Send + Sync + 'static> Description<S> {
    /// A component with routes and nothing else yet.
    pub fn new(name: &'static str, api: OpenApiRouter<S>) -> Self {
        Self { name, api, pages: Router::new(), links: Vec::new(), jobs: Vec::new(), ready: Vec::new() }
    }

    /// Adds more API routes (the original system's routes of the same component).
    pub fn with_api(mut self, more: OpenApiRouter<S>) -> Self {
        self.api = self.api.merge(more);
        self
    }

    /// Adds routes outside the API document.
    pub fn with_pages(mut self, pages: Router<S>) -> Self {
        self.pages = self.pages.merge(pages);
        self
    }

    /// Adds links for `GET /` to list.
    pub fn with_links(mut self, links: &[(&'static str, &'static str)]) -> Self {
        self.links.extend_from_slice(links);
        self
    }

    /// Folds another module's description into this one (integration = products + sales).
    pub fn merge(mut self, other: Description<S>) -> Self {
        self.api = self.api.merge(other.api);
        self.pages = self.pages.merge(other.pages);
        self.links.extend(other.links);
        self.jobs.extend(other.jobs);
        self.ready.extend(other.ready);
        self
    }

    /// Adds a background job.
    pub fn with_job(mut self, job: Pending) -> Self {
        self.jobs.push(job);
        self
    }

    /// Adds a readiness condition.
    pub fn with_ready(mut self, name: &'static str, check: ReadyCheck) -> Self {
        self.ready.push((name, check));
        self
    }
}

use tower::Layer;

use super::StaticFiles;

/// [`StaticFiles`] as a tower [`Layer`]: the files answer `GET` and `HEAD`, the inner service
/// everything else (and, with
/// [`fall_through_on_not_found`](StaticFiles::fall_through_on_not_found), paths with no file).
///
/// ```
/// use basehttp::static_files::{StaticFiles, StaticFilesLayer};
/// use tower::ServiceBuilder;
///
/// let app = tower::service_fn(|_req: http::Request<basehttp::Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(basehttp::Body::from("posted")))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(StaticFilesLayer::new(StaticFiles::new("public")))
///     .service(app);
/// # let _ = svc;
/// ```
///
/// See the [module docs](crate::static_files) for more details.
#[derive(Clone, Debug)]
pub struct StaticFilesLayer {
    files: StaticFiles,
}

impl StaticFilesLayer {
    /// Creates the layer from a configured [`StaticFiles`].
    pub fn new(files: StaticFiles) -> Self {
        Self { files }
    }
}

impl<S> Layer<S> for StaticFilesLayer {
    type Service = StaticFiles<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.files.clone().with_inner(inner)
    }
}

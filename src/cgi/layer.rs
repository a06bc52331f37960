use tower::Layer;

use super::Cgi;

/// [`Cgi`] as a tower [`Layer`]: scripts answer the requests in the CGI directories, the inner
/// service everything else (Python's handler: the file server).
///
/// ```
/// use basehttp::cgi::{Cgi, CgiLayer};
/// use basehttp::static_files::StaticFiles;
/// use tower::Layer;
///
/// // python -m http.server --cgi
/// let app = CgiLayer::new(Cgi::new(".")).layer(StaticFiles::new("."));
/// # let _ = app;
/// ```
///
/// See the [module docs](crate::cgi) for more details.
#[derive(Clone, Debug)]
pub struct CgiLayer {
    cgi: Cgi,
}

impl CgiLayer {
    /// Creates the layer from a configured [`Cgi`].
    pub fn new(cgi: Cgi) -> Self {
        Self { cgi }
    }
}

impl<S> Layer<S> for CgiLayer {
    type Service = Cgi<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.cgi.clone().with_inner(inner)
    }
}

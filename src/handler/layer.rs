use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::{HandlerService, HttpRequestHandler};

/// A [`HttpRequestHandler`] as a tower [`Layer`]: the handler answers what it implements and
/// hands everything else to the inner service, the way a Python subclass inherits from its base.
///
/// ```
/// use basehttp::prelude::*;
/// use tower::ServiceBuilder;
///
/// struct Api;
/// impl HttpRequestHandler for Api {}
///
/// let inner = tower::service_fn(|_req: http::Request<basehttp::Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(basehttp::Body::empty()))
/// });
/// let svc = ServiceBuilder::new().layer(Api.into_layer()).service(inner);
/// # let _ = svc;
/// ```
///
/// See the [module docs](crate::handler) for more details.
pub struct HandlerLayer<H> {
    handler: Arc<H>,
}

impl<H: HttpRequestHandler> HandlerLayer<H> {
    /// Creates the layer.
    pub fn new(handler: H) -> Self {
        Self {
            handler: Arc::new(handler),
        }
    }
}

impl<H> Clone for HandlerLayer<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
        }
    }
}

impl<H> fmt::Debug for HandlerLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerLayer")
            .field("handler", &std::any::type_name::<H>())
            .finish()
    }
}

impl<H: HttpRequestHandler, S> Layer<S> for HandlerLayer<H> {
    type Service = HandlerService<H, S>;

    fn layer(&self, inner: S) -> Self::Service {
        HandlerService::from_parts(self.handler.clone(), Some(inner))
    }
}

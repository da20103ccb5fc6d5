//! The app context.

use yew::prelude::*;

use crate::state::AppContext;

/// The shared app state and its dispatcher.
#[hook]
pub fn use_app() -> AppContext {
    // Infallible: `App` renders every component inside its `ContextProvider<AppContext>`.
    #[allow(clippy::expect_used)]
    let ctx = use_context::<AppContext>().expect("rendered inside App's ContextProvider");
    ctx
}

//! Budgets per provider account: prices, spend, and alerts.
//!
//! - [`Usd`]: money as whole nano-dollars, exact under addition.
//! - [`PricingTable`] and [`Price`]: what each provider model charges, with shipped
//!   defaults, overrides, and the exact cost of a [`Usage`](crate::Usage).
//! - [`Budget`] and [`BudgetLedger`]: a limit per window (UTC calendar month by default),
//!   reserved at worst case before a call and settled after, with alert thresholds.
//! - [`CancelledCharge`]: what a call its caller walked away from is charged.
//! - [`AlertSink`]: where [`Alert`]s go: a callback, a `tracing` event or a webhook.

mod alert;
mod cancelled;
mod config;
mod ledger;
mod money;
mod pricing;
pub(crate) mod window;

pub use alert::{Alert, AlertError, AlertSink, CallbackSink, TracingSink, WebhookSink};
pub use cancelled::CancelledCharge;
pub use config::{Budget, BudgetConfigError, DEFAULT_THRESHOLDS, MAX_THRESHOLDS};
pub use ledger::{BudgetLedger, BudgetReservation, BudgetSnapshot, Exhausted};
pub use money::{InvalidAmount, Usd};
pub use pricing::{Price, PricingTable, UnknownPrice};
pub use window::{BudgetWindow, WindowSpan};
pub(crate) use window::{rfc3339, serialize_rfc3339};

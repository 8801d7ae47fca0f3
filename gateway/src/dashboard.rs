//! The live dashboard: one server-rendered page whose body refreshes itself every two
//! seconds from `/dashboard/body` (the same renderer); no front-end build step.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use routewise::{AccountStatus, BreakerState, RouterStats};

use crate::server::{Failure, Gateway};

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 8px}\
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;min-width:560px}\
th,td{padding:6px 12px;border-bottom:1px solid #e4e6eb;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef0f4;font-weight:600}\
.ok{color:#177245}.warn{color:#a86100}.bad{color:#b3261e}.muted{color:#6b7280}\
.bar{display:inline-block;height:8px;background:#d9dde5;width:120px;vertical-align:middle;margin-right:6px}\
.bar i{display:block;height:8px;background:#3b6fd8}";

/// `GET /`: the dashboard.
pub(crate) async fn page(State(gateway): State<Gateway>) -> Response {
    let body = render(&gateway);
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>routewise gateway</title>\
         <style>{STYLE}</style></head><body><div id=live>{body}</div>\
         <script>setInterval(async()=>{{try{{const r=await fetch('/dashboard/body');\
         if(r.ok)document.getElementById('live').innerHTML=await r.text()}}catch(e){{}}}},2000)</script>\
         </body></html>"
    ))
    .into_response()
}

/// `GET /dashboard/body`: the page's live part.
pub(crate) async fn body(State(gateway): State<Gateway>) -> Response {
    Html(render(&gateway)).into_response()
}

fn render(gateway: &Gateway) -> String {
    let stats = gateway.router().stats();
    let accounts = gateway.router().accounts();
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1>routewise gateway</h1><div class=muted>{} policies, {} accounts; refreshed every 2 s</div>",
        stats.policies.len(),
        accounts.len()
    );
    policies(&mut out, &stats);
    breakers(&mut out, &stats);
    accounts_table(&mut out, &accounts);
    failures(&mut out, &gateway.recent_failures());
    out
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0))
}

fn policies(out: &mut String, stats: &RouterStats) {
    out.push_str("<h2>Policies</h2><table id=policies><tr><th>policy</th><th>priority</th><th>matched</th><th>succeeded</th><th>failed</th><th>fallbacks</th><th>success rate</th><th>error rate</th></tr>");
    for p in &stats.policies {
        let name = escape(&p.name);
        let _ = write!(
            out,
            "<tr data-policy=\"{name}\"><td>{name}</td><td class=n>{}</td>\
             <td class=n data-field=matched>{}</td><td class=n data-field=succeeded>{}</td>\
             <td class=n data-field=failed>{}</td><td class=n data-field=fallbacks>{}</td>\
             <td class=n>{}</td><td class=n>{}</td></tr>",
            p.priority,
            p.matched,
            p.succeeded,
            p.failed,
            p.fallbacks,
            rate(p.success_rate),
            rate(p.error_rate)
        );
    }
    out.push_str("</table>");
}

fn breakers(out: &mut String, stats: &RouterStats) {
    out.push_str("<h2>Circuit breakers</h2><table id=breakers><tr><th>policy</th><th>target</th><th>state</th><th>calls</th><th>faults</th><th>times opened</th></tr>");
    for b in &stats.breakers {
        let (class, state) = match b.breaker.state {
            BreakerState::Closed => ("ok", "closed"),
            BreakerState::HalfOpen => ("warn", "half-open"),
            _ => ("bad", "open"),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class={class} data-field=state>{state}</td>\
             <td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            escape(&b.policy),
            escape(&b.target.to_string()),
            b.breaker.calls,
            b.breaker.faults,
            b.breaker.times_opened
        );
    }
    out.push_str("</table>");
}

fn accounts_table(out: &mut String, accounts: &[AccountStatus]) {
    out.push_str("<h2>Accounts</h2><table id=accounts><tr><th>account</th><th>health</th><th>calls</th><th>error rate</th><th>RPM used</th><th>TPM used</th><th>budget</th><th>projected exhaustion</th></tr>");
    let now = SystemTime::now();
    for a in accounts {
        let health = if a.health.healthy {
            "<td class=ok>healthy</td>"
        } else {
            "<td class=bad>unhealthy</td>"
        };
        let (rpm, tpm) = match &a.limits {
            Some(l) => (
                used(u64::from(l.account.requests), l.account.rpm.map(u64::from)),
                used(l.account.tokens, l.account.tpm),
            ),
            None => ("–".into(), "–".into()),
        };
        let (budget, projection) = match &a.budget {
            Some(b) => {
                let share = if b.limit.dollars() > 0.0 {
                    (b.spent.dollars() / b.limit.dollars()).min(1.0)
                } else {
                    1.0
                };
                let bar = format!(
                    "<span class=bar><i style=\"width:{:.0}%\"></i></span>${:.4} of ${:.2}",
                    share * 100.0,
                    b.spent.dollars(),
                    b.limit.dollars()
                );
                let elapsed = now.duration_since(b.window_start).map(|d| d.as_secs_f64());
                let projection = match elapsed {
                    Ok(secs) if b.spent.dollars() > 0.0 && secs > 0.0 => {
                        let left = (b.limit.dollars() - b.spent.dollars()).max(0.0);
                        let hours = left / (b.spent.dollars() / secs) / 3600.0;
                        let at = now + std::time::Duration::from_secs_f64(hours * 3600.0);
                        if at < b.window_end {
                            format!("<span class=warn>in {hours:.1} h</span>")
                        } else {
                            "not this window".into()
                        }
                    }
                    _ => "–".into(),
                };
                (bar, projection)
            }
            None => ("no budget".into(), "–".into()),
        };
        let name = escape(&a.name);
        let _ = write!(
            out,
            "<tr data-account=\"{name}\"><td>{name}</td>{health}<td class=n data-field=calls>{}</td>\
             <td class=n>{}</td><td class=n>{rpm}</td><td class=n>{tpm}</td><td>{budget}</td><td>{projection}</td></tr>",
            a.health.calls,
            rate(a.health.error_rate)
        );
    }
    out.push_str("</table>");
}

fn used(value: u64, limit: Option<u64>) -> String {
    match limit {
        Some(limit) => format!("{value} / {limit}"),
        None => value.to_string(),
    }
}

fn failures(out: &mut String, failures: &[Failure]) {
    out.push_str("<h2>Recent failures</h2>");
    if failures.is_empty() {
        out.push_str("<div class=muted id=failures>none</div>");
        return;
    }
    out.push_str(
        "<table id=failures><tr><th>when</th><th>status</th><th>policy</th><th>message</th></tr>",
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for f in failures.iter().rev() {
        let _ = write!(
            out,
            "<tr><td>{} s ago</td><td class=bad>{}</td><td>{}</td><td>{}</td></tr>",
            now.saturating_sub(f.at),
            f.status,
            escape(f.policy.as_deref().unwrap_or("–")),
            escape(&f.message)
        );
    }
    out.push_str("</table>");
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

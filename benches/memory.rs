//! Memory a router holds: a large configuration at rest, and each request in flight.
//!
//! Two measures side by side: heap bytes live (a counting allocator, exact) and resident
//! memory (`/proc/self/statm`, what the operating system sees, in whole pages and subject
//! to the allocator keeping freed memory).
//!
//! `cargo bench --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{
    ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target,
};

/// Counts heap bytes live, so a measure is not blurred by page granularity.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// side effect that allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: as for `dealloc`, and `new_size` is the caller's to choose.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes and resident bytes at one moment.
#[derive(Clone, Copy)]
struct Memory {
    heap: isize,
    resident: isize,
}

impl Memory {
    fn now() -> Self {
        // statm's second field is resident pages; pages are 4 KiB on the machines this runs on.
        let resident = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
            .map_or(0, |pages| pages * 4096);
        Self {
            heap: LIVE_BYTES.load(Relaxed),
            resident,
        }
    }

    fn since(self, earlier: Memory) -> Memory {
        Memory {
            heap: self.heap - earlier.heap,
            resident: self.resident - earlier.resident,
        }
    }
}

/// A router with `n` accounts, `n` logical models (one target each) and `n` policies.
fn large_router(n: usize) -> Router {
    let mut builder = Router::builder();
    for i in 0..n {
        builder = builder
            .account(
                ProviderAccount::new(format!("account-{i}"), SimProvider::new())
                    .api_key("sk-bench"),
            )
            .model(
                LogicalModel::new(format!("model-{i}"))
                    .target(Target::new(format!("account-{i}"), "provider-model")),
            )
            .policy(
                Policy::new(format!("policy-{i}"))
                    .purposes([Purpose::custom(format!("purpose-{i}"))])
                    .route([format!("model-{i}")]),
            );
    }
    builder
        .build()
        .expect("the benchmark configuration is valid")
}

/// Memory per task while `count` tasks made by `task` wait at once.
async fn per_task<F, Fut>(count: usize, task: F) -> Memory
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let before = Memory::now();
    let tasks: Vec<_> = (0..count).map(|i| tokio::spawn(task(i))).collect();
    // Let every task run up to its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = Memory::now().since(before);
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    Memory {
        heap: during.heap / count as isize,
        resident: during.resident / count as isize,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        const CONFIG_SIZE: usize = 1_000;
        let before = Memory::now();
        let router = large_router(CONFIG_SIZE);
        let at_rest = Memory::now().since(before);
        println!(
            "router with {CONFIG_SIZE} policies, models and accounts: heap {} KiB, resident {} KiB",
            at_rest.heap / 1024,
            at_rest.resident / 1024
        );

        const IN_FLIGHT: usize = 10_000;
        let slow = Router::builder()
            .account(ProviderAccount::new(
                "slow",
                SimProvider::new().latency(Duration::from_secs(3_600)),
            ))
            .model(LogicalModel::new("m").target(Target::new("slow", "x")))
            .policy(Policy::new("default").route(["m"]))
            .build()
            .expect("the benchmark configuration is valid");
        let baseline = per_task(IN_FLIGHT, |_| async {
            let request = ChatRequest::user("hello");
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            drop(request);
        })
        .await;
        let routed = per_task(IN_FLIGHT, |_| {
            let router = slow.clone();
            async move {
                let answer = router
                    .complete(
                        StepType::Inference,
                        Purpose::Chat,
                        ChatRequest::user("hello"),
                    )
                    .await;
                drop(answer);
            }
        })
        .await;
        println!(
            "per request in flight ({IN_FLIGHT} at once, provider answering in 1 h): \
             task holding a request {} B heap / {} B resident; through the router {} B heap / \
             {} B resident; the router's share {} B heap",
            baseline.heap,
            baseline.resident,
            routed.heap,
            routed.resident,
            routed.heap - baseline.heap
        );
        drop(router);
    });
}

//! State stores: shared semantics, durable atomic writes, and crashes mid-write.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use routewise::state::{FileStore, MemoryStore, StateError, StateKey, StateStore};

/// Exercises every operation; both built-in stores must behave identically.
async fn behaves_like_a_state_store(store: &dyn StateStore) {
    let spend = StateKey::spend("acct", "2025-01");
    assert_eq!(store.get(&spend).await.unwrap(), 0);
    assert_eq!(store.increment(&spend, 300).await.unwrap(), 300);
    assert_eq!(store.increment(&spend, 0).await.unwrap(), 300);
    assert_eq!(store.increment(&spend, u64::MAX).await.unwrap(), u64::MAX);

    let flags = StateKey::alerts_fired("acct", "2025-01");
    assert_eq!(store.fetch_or(&flags, 0b0101).await.unwrap(), 0b0101);
    assert_eq!(store.fetch_or(&flags, 0b0011).await.unwrap(), 0b0111);

    let budget = StateKey::new("budget");
    store.increment(&budget, 200).await.unwrap();
    let ttl = Duration::from_secs(30);
    let a = store
        .try_reserve(&budget, 500, 1_000, ttl)
        .await
        .unwrap()
        .unwrap();
    let b = store
        .try_reserve(&budget, 300, 1_000, ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.try_reserve(&budget, 1, 1_000, ttl).await.unwrap(),
        None
    );
    assert_eq!(store.commit(&budget, a, 100).await.unwrap(), 300);
    store.cancel(&budget, b).await.unwrap();
    // 300 counted, nothing held: 700 fits exactly, then nothing more.
    let held = store.try_reserve(&budget, 700, 1_000, ttl).await.unwrap();
    assert!(held.is_some());
    assert_eq!(
        store.try_reserve(&budget, 1, 1_000, ttl).await.unwrap(),
        None
    );
    // A holder that never comes back: its reservation expires.
    tokio::time::advance(ttl).await;
    assert!(
        store
            .try_reserve(&budget, 700, 1_000, ttl)
            .await
            .unwrap()
            .is_some()
    );
    // Committing an expired reservation still counts what was spent.
    assert_eq!(store.commit(&budget, held.unwrap(), 50).await.unwrap(), 350);
}

#[tokio::test(start_paused = true)]
async fn the_memory_store_keeps_counters_bit_sets_and_expiring_reservations() {
    behaves_like_a_state_store(&MemoryStore::new()).await;
}

#[tokio::test(start_paused = true)]
async fn the_file_store_behaves_like_the_memory_store_and_reloads_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::open(&path).await.unwrap();
    behaves_like_a_state_store(&store).await;
    store.flush().await.unwrap();
    let reopened = FileStore::open(&path).await.unwrap();
    assert_eq!(reopened.get(&StateKey::new("budget")).await.unwrap(), 350);
    assert_eq!(
        reopened
            .get(&StateKey::alerts_fired("acct", "2025-01"))
            .await
            .unwrap(),
        0b0111
    );
}

#[tokio::test]
async fn a_flush_with_nothing_to_write_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::open(&path).await.unwrap();
    store.increment(&StateKey::new("x"), 0).await.unwrap();
    store.flush().await.unwrap();
    assert!(!path.exists());
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_temporary_file_left_by_an_interrupted_flush_neither_corrupts_nor_survives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let key = StateKey::spend("acct", "2025-01");
    let store = FileStore::open(&path).await.unwrap();
    store.increment(&key, 1_234).await.unwrap();
    store.flush().await.unwrap();
    let complete = std::fs::read(&path).unwrap();

    // A crash mid-write: the next state half written to the temporary file.
    let temp = dir.path().join("state.json.tmp");
    write(&temp, &complete[..complete.len() / 2]);
    let reopened = FileStore::open(&path).await.unwrap();
    assert_eq!(reopened.get(&key).await.unwrap(), 1_234);
    assert!(!temp.exists());

    // A crash after creating the temporary file but before writing anything.
    write(&temp, b"");
    let reopened = FileStore::open(&path).await.unwrap();
    reopened.increment(&key, 1).await.unwrap();
    reopened.flush().await.unwrap();
    assert_eq!(
        FileStore::open(&path)
            .await
            .unwrap()
            .get(&key)
            .await
            .unwrap(),
        1_235
    );
}

#[tokio::test]
async fn a_corrupt_state_file_is_an_error_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write(
        &path,
        b"{\"version\": 1, \"values\": {\"spend:2025-01:a\": 12",
    );
    let err = FileStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }));
    assert!(
        err.to_string()
            .contains("is not a valid routewise state file")
    );
    assert_eq!(std::fs::read(&path).unwrap().len(), 47);

    write(&path, br#"{"version": 2, "values": {}}"#);
    let err = FileStore::open(&path).await.unwrap_err();
    assert!(matches!(
        err,
        StateError::UnsupportedVersion { version: 2, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn periodic_flush_writes_updates_within_one_interval_and_stops_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::open(&path).await.unwrap();
    let flusher = store.spawn_periodic_flush(Duration::from_secs(5));
    store.increment(&StateKey::new("n"), 7).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    drop(store);
    flusher.await.unwrap();
    let reopened = FileStore::open(&path).await.unwrap();
    assert_eq!(reopened.get(&StateKey::new("n")).await.unwrap(), 7);
}

const CRASH_CHILD: &str = "ROUTEWISE_STATE_CRASH_CHILD";
const KEYS: u64 = 400;

/// The writer the crash test runs in a child process and kills: it bumps every key and
/// then `round`, and flushes, over and over. Each flushed file therefore holds every key
/// equal to `round`, unless a write was torn.
#[tokio::test]
#[ignore = "run by a_writer_killed_mid_flush_leaves_a_complete_file in a child process"]
async fn crash_child_writer() {
    let path = std::env::var(CRASH_CHILD).expect("run by the crash test");
    let store = FileStore::open(&path).await.unwrap();
    for _ in 0..100_000 {
        for k in 0..KEYS {
            store
                .increment(&StateKey::new(format!("k{k}")), 1)
                .await
                .unwrap();
        }
        store.increment(&StateKey::new("round"), 1).await.unwrap();
        store.flush().await.unwrap();
    }
}

/// The `round` of a state file, checking every key agrees with it.
fn consistent_round(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let file: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("torn state file ({e}): {}", String::from_utf8_lossy(&bytes)));
    let values = &file["values"];
    let round = values["round"].as_u64().unwrap();
    for k in 0..KEYS {
        assert_eq!(values[format!("k{k}")].as_u64(), Some(round), "key k{k}");
    }
    Some(round)
}

#[test]
fn a_writer_killed_mid_flush_leaves_a_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for _ in 0..3 {
        let before = consistent_round(&path).unwrap_or(0);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_writer",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CRASH_CHILD, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait (in real time: this is another process) until it has flushed a few times,
        // reading the file all along: a reader must never see a torn file either.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while consistent_round(&path).unwrap_or(0) < before + 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer made no progress"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let after = consistent_round(&path).unwrap();
        assert!(after >= before + 3);
        let store = runtime.block_on(FileStore::open(&path)).unwrap();
        let round = runtime
            .block_on(store.get(&StateKey::new("round")))
            .unwrap();
        assert_eq!(round, after);
        assert!(!dir.path().join("state.json.tmp").exists());
    }
}

//! `RedisState` as a `StateStore`, against the real Redis server on 127.0.0.1:6379.
#![cfg(feature = "redis")]

mod support;

use std::time::Duration;

use routewise::state::{StateKey, StateStore, WriteId};
use support::redis::fresh_state;

#[tokio::test]
async fn counters_start_at_zero_and_add_up() {
    let store = fresh_state("store-counters").build().unwrap();
    let key = StateKey::new("requests");
    assert_eq!(store.get(&key).await.unwrap(), 0);
    assert_eq!(store.increment(&key, 5).await.unwrap(), 5);
    assert_eq!(store.increment(&key, 0).await.unwrap(), 5);
    assert_eq!(store.get(&key).await.unwrap(), 5);
}

#[tokio::test]
async fn a_write_sent_again_under_its_id_is_applied_once() {
    let store = fresh_state("store-once").build().unwrap();
    let key = StateKey::spend("main", "2025-01");
    let first = WriteId::fresh();
    assert_eq!(store.increment_once(&key, 300, first).await.unwrap(), 300);
    // Its answer was lost, so it goes again: nothing more is added.
    assert_eq!(store.increment_once(&key, 300, first).await.unwrap(), 300);
    assert_eq!(
        store
            .increment_once(&key, 50, WriteId::fresh())
            .await
            .unwrap(),
        350
    );
    assert_eq!(store.get(&key).await.unwrap(), 350);
}

#[tokio::test]
async fn bit_sets_merge_and_report_the_whole_set() {
    let store = fresh_state("store-bits").build().unwrap();
    let key = StateKey::alerts_fired("main", "2025-01");
    assert_eq!(store.fetch_or(&key, 0b001).await.unwrap(), 0b001);
    assert_eq!(store.fetch_or(&key, 0b100).await.unwrap(), 0b101);
    assert_eq!(store.fetch_or(&key, 0).await.unwrap(), 0b101);
}

#[tokio::test]
async fn reservations_hold_against_the_limit_until_committed_or_cancelled() {
    let store = fresh_state("store-reserve").build().unwrap();
    let key = StateKey::spend("main", "2025-01");
    let ttl = Duration::from_secs(60);
    store.increment(&key, 250).await.unwrap();
    let held = store
        .try_reserve(&key, 700, 1_000, ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .try_reserve(&key, 100, 1_000, ttl)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.commit(&key, held, 400).await.unwrap(), 650);
    let again = store
        .try_reserve(&key, 350, 1_000, ttl)
        .await
        .unwrap()
        .unwrap();
    store.cancel(&key, again).await.unwrap();
    assert!(
        store
            .try_reserve(&key, 350, 1_000, ttl)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_reservation_whose_holder_vanished_expires_after_its_ttl() {
    let store = fresh_state("store-expiry").build().unwrap();
    let key = StateKey::spend("main", "2025-01");
    let short = Duration::from_millis(200);
    let _abandoned = store
        .try_reserve(&key, 900, 1_000, short)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .try_reserve(&key, 500, 1_000, short)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        store
            .try_reserve(&key, 500, 1_000, short)
            .await
            .unwrap()
            .is_some()
    );
}

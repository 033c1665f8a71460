//! The miner <-> pool protocol: any bytes as each message a peer can send (prost decode), then
//! the conversions to core's types. What decodes must re-encode to itself; what converts must
//! convert back to the same value; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nockpool_core::proto::{self, work_order};
use nockpool_core::{CoreError, Job, Share};
use prost::Message;

/// `decode(encode(m))` encodes to the same bytes (compared as bytes: a NaN hashrate is not
/// equal to itself).
fn reencodes<M: Message + Default>(message: &M) {
    let bytes = message.encode_to_vec();
    let again = M::decode(bytes.as_slice()).expect("a re-encoded message decodes");
    assert_eq!(again.encode_to_vec(), bytes);
}

fn check_job(wire: &proto::Job) {
    match Job::try_from(wire) {
        Ok(job) => {
            let back = proto::Job::from(&job);
            assert_eq!(back.commitment, wire.commitment);
            assert_eq!(back.job_id, wire.job_id);
            assert_eq!(back.nonce_prefix, wire.nonce_prefix);
            assert!(back.share_target.len() <= 40 && back.network_target.len() <= 40);
            assert_eq!(Job::try_from(&back), Ok(job));
        }
        Err(CoreError::InvalidField { .. }) => {}
        Err(other) => panic!("a bad job must name its field, got {other:?}"),
    }
}

fn check_share(wire: &proto::WorkResult) {
    match Share::try_from(wire) {
        // Every field a share keeps comes back exactly.
        Ok(share) => assert_eq!(&proto::WorkResult::from(&share), wire),
        Err(CoreError::InvalidField { .. }) => {}
        Err(other) => panic!("a bad share must name its field, got {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // Pool side: the Subscribe stream's messages and SubmitWork.
    if let Ok(status) = proto::MinerStatus::decode(data) {
        reencodes(&status);
    }
    if let Ok(result) = proto::WorkResult::decode(data) {
        reencodes(&result);
        check_share(&result);
    }
    // Miner side: what the pool sends back.
    if let Ok(order) = proto::WorkOrder::decode(data) {
        reencodes(&order);
        if let Some(work_order::Kind::Job(job)) = &order.kind {
            check_job(job);
        }
    }
    if let Ok(job) = proto::Job::decode(data) {
        check_job(&job);
    }
    if let Ok(ack) = proto::SubmitAck::decode(data) {
        reencodes(&ack);
    }
});

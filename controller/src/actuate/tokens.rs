//! Idempotency tokens of the creates: the same for the retries of one request, new for a
//! changed spec or a later create of the same one.

use crate::render::aws::DesiredService;

/// CreateService's idempotency token, `<name>-<spec hash>-<generation>`: the same for the
/// retries of one create (the SDK resends the same request), new for a changed spec and for a
/// later create of the same spec (after a prune, say), so AWS never answers with the old
/// service. ECS takes at most 36 characters, so a long name is shortened (the spec hash covers
/// the full name and cluster, so tokens stay distinct).
pub fn client_token(d: &DesiredService, generation: u64) -> String {
    let generation = base36(generation);
    let hash: String = d.spec_hash.chars().take(12).collect();
    let keep = 36usize.saturating_sub(hash.len() + generation.len() + 2);
    let name: String = d.name.chars().take(keep).collect();
    format!("{name}-{hash}-{generation}")
}

/// Cloud Map's CreatorRequestId, `<operator id>-<name>-<generation>`, hashed when over its 64
/// characters. The name is the Cloud Map service's, so a discovery rename is a new request.
pub fn creator_request_id(operator_id: &str, name: &str, generation: u64) -> String {
    use sha2::Digest;
    let id = format!("{operator_id}-{name}-{}", base36(generation));
    if id.len() <= 64 {
        id
    } else {
        hex::encode(sha2::Sha256::digest(id.as_bytes()))
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

//! The eCom callback's `merchantInfo.authToken`: a per-payment secret that Vipps
//! sends back in the callback's `Authorization` header, so only Vipps (which got
//! it with the payment request) can move a payment's status by callback.
//!
//! It is never stored: it is HMAC-SHA256 keyed by the connection's
//! `client_secret` over the merchant serial number and the order id, so the
//! runtime derives it again when a callback comes (and for every retry of the
//! same order, which sends the same token). Rotating the client secret
//! invalidates the tokens of payments still open; their status then comes from
//! the poll.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::http::Secret;

/// Separates this use of the client secret from any other.
const CONTEXT: &[u8] = b"flowc/vipps/ecom-callback-auth-token/v1";

/// The `authToken` of order `order_id` of sales unit `msn` (43 characters of
/// base64url, within the spec's 255).
pub fn derive(key: &Secret, msn: &str, order_id: &str) -> Secret {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(CONTEXT);
    mac.update(&[0x1f]);
    mac.update(msn.as_bytes());
    mac.update(&[0x1f]);
    mac.update(order_id.as_bytes());
    Secret::new(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Whether a callback's `Authorization` header is the token of this order
/// (compared in constant time; a missing header is refused).
pub fn verify(key: &Secret, msn: &str, order_id: &str, authorization: Option<&str>) -> bool {
    let Some(got) = authorization else {
        return false;
    };
    let want = derive(key, msn, order_id);
    want.expose().as_bytes().ct_eq(got.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_stable_per_order_and_differs_between_orders() {
        let key = Secret::new("client-secret");
        let a = derive(&key, "123456", "ORD-1");
        assert_eq!(a.expose(), derive(&key, "123456", "ORD-1").expose());
        assert_ne!(a.expose(), derive(&key, "123456", "ORD-2").expose());
        assert_ne!(a.expose(), derive(&key, "654321", "ORD-1").expose());
        assert_ne!(
            a.expose(),
            derive(&Secret::new("other"), "123456", "ORD-1").expose()
        );
        assert_eq!(a.expose().len(), 43);
        assert!(!a.expose().contains("client-secret"));
    }

    #[test]
    fn only_the_orders_own_token_is_accepted() {
        let key = Secret::new("client-secret");
        let token = derive(&key, "123456", "ORD-1");
        assert!(verify(&key, "123456", "ORD-1", Some(token.expose())));
        let other = derive(&key, "123456", "ORD-2");
        assert!(!verify(&key, "123456", "ORD-1", Some(other.expose())));
        assert!(!verify(&key, "123456", "ORD-1", None));
        assert!(!verify(&key, "123456", "ORD-1", Some("")));
        assert!(!verify(
            &key,
            "123456",
            "ORD-1",
            Some(&token.expose()[..42])
        ));
    }
}

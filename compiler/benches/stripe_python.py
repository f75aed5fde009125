"""The customer + charge calls of `flows/stripe_customer_charges.flow.yaml`,
made with Stripe's official Python library against the simulator: for each
sign-up, find the customer by e-mail, create it with the card token, charge it.
Same calls, same concurrency (threads) as the flow binary and the reqwest loop
in `stripe.rs`, which runs this script and reads the rate it prints. (Not
named stripe.py: that would shadow the library.)

usage: python3 stripe_python.py BASE_URL ISSUES CONCURRENCY
"""

import concurrent.futures
import sys
import time

import stripe


def signup(i: int) -> None:
    email = f"py{i}@example.com"
    found = stripe.Customer.list(email=email, limit=1)
    if found.data:
        raise SystemExit(f"{email} exists already")
    customer = stripe.Customer.create(
        email=email,
        name=f"Customer {i}",
        source="tok_visa",
        description="Registered by the billing flow for plan 11",
        metadata={"plan": "11"},
        idempotency_key=f"py:{i}:create_customer",
    )
    charge = stripe.Charge.create(
        amount=1500,
        currency="jpy",
        customer=customer.id,
        description="Plan 11, period 1 of 1",
        statement_descriptor_suffix="PERIOD 1",
        metadata={"plan": "11", "period": "1"},
        idempotency_key=f"py:{i}:charge",
    )
    if charge.status != "succeeded":
        raise SystemExit(f"charge {charge.id}: {charge.status}")


def main() -> None:
    url, issues, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stripe.api_key = "sk_test_bench_python"
    stripe.api_base = url
    stripe.max_network_retries = 2
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        for f in [pool.submit(signup, i) for i in range(issues)]:
            f.result()
    took = time.perf_counter() - start
    print(f"{issues / took:.1f}")


if __name__ == "__main__":
    main()

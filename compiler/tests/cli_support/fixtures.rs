//! Flow fixtures, each in YAML and in the DSL (the same flow), written
//! against the seed provider catalog (`runtime/catalog/data/stripe.yaml`).

/// A clean flow: a Stripe customer and a charge, then a signal wait.
pub const CLEAN_YAML: &str = r#"flow: charge_delivery
description: Charge each completed delivery through Stripe.
data:
  delivery_id: { type: string, required: true }
  customer_email: { type: email, required: true }
  total: { type: money(JPY), required: true }
  customer_id: { type: id(stripe.customer) }
  charge_id: { type: id(stripe.charge) }
connections:
  stripe:
    provider: stripe
    mode: test
    credentials:
      secret_key: { env: STRIPE_SECRET_KEY }
start: input
steps:
  - id: create_customer
    action: stripe.create_customer
    with:
      email: ${customer_email}
      metadata: { delivery: "${delivery_id}" }
    save:
      customer_id: ${create_customer.id}
  - id: charge
    action: stripe.create_charge
    with:
      amount: ${minor_units(total)}
      currency: jpy
      customer: ${customer_id}
      description: "Delivery ${delivery_id}"
    save:
      charge_id: ${charge.id}
  - id: confirm
    wait:
      signal: confirmed
      data: { note: text }
    timeout: 3d
    on_timeout: give_up
  - id: done
    end: completed
  - id: give_up
    fail: "charge ${charge_id} was never confirmed"
"#;

/// [`CLEAN_YAML`] in the DSL.
pub const CLEAN_DSL: &str = r#"flow charge_delivery "Charge each completed delivery through Stripe."

data {
  delivery_id: string required
  customer_email: email required
  total: money(JPY) required
  customer_id: id(stripe.customer)
  charge_id: id(stripe.charge)
}

connection stripe: stripe test {
  secret_key = env("STRIPE_SECRET_KEY")
}

start input

step create_customer = stripe.create_customer {
  email = customer_email
  metadata = { delivery = delivery_id }
} save {
  customer_id = create_customer.id
}
step charge = stripe.create_charge {
  amount = minor_units(total)
  currency = "jpy"
  customer = customer_id
  description = "Delivery ${delivery_id}"
} save {
  charge_id = charge.id
}
step confirm = wait signal confirmed { note: text }
  timeout 3d on_timeout give_up
step done = end completed
step give_up = fail "charge ${charge_id} was never confirmed"
"#;

/// A flow whose only finding is a warning (W0002: `unused` is never used).
pub const WARNING_YAML: &str = r#"flow: warn_only
data:
  customer_email: { type: email, required: true }
  unused: { type: string }
connections:
  stripe:
    provider: stripe
    mode: test
    credentials:
      secret_key: { env: STRIPE_SECRET_KEY }
start: input
steps:
  - id: create_customer
    action: stripe.create_customer
    with:
      email: ${customer_email}
  - id: done
    end: completed
"#;

/// A flow with an error: `custmer_email` is not declared (E0101).
pub const ERROR_YAML: &str = r#"flow: broken
data:
  customer_email: { type: email, required: true }
connections:
  stripe:
    provider: stripe
    mode: test
    credentials:
      secret_key: { env: STRIPE_SECRET_KEY }
start: input
steps:
  - id: create_customer
    action: stripe.create_customer
    with: { email: "${custmer_email}" }
  - id: done
    end: completed
"#;

/// [`ERROR_YAML`] in the DSL.
pub const ERROR_DSL: &str = r#"flow broken
data {
  customer_email: email required
}
connection stripe: stripe test { secret_key = env("STRIPE_SECRET_KEY") }
start input
step create_customer = stripe.create_customer {
  email = custmer_email
}
step done = end completed
"#;

/// Malformed YAML (an unclosed flow mapping).
pub const MALFORMED_YAML: &str = "flow: broken\ndata: { a: string\nsteps: [\n";

/// A broken DSL file (a step without a kind).
pub const BROKEN_DSL: &str = "flow broken\nstart input\nstep a = \n";

/// Every construct the diagram draws: if/else, switch with cases and a
/// default, for_each, a wait with a timeout, a timer, http, set, goto, end
/// and fail.
pub const GRAPH_YAML: &str = r#"flow: graph_demo
data:
  total: { type: decimal, required: true, default: 0 }
  region:
    type: select
    options: { "8": East Asia, "81": Japan, "82": South Korea }
    default: "81"
  lines:
    type: table
    columns:
      description: { type: string, required: true }
  approved: { type: bool }
  note: { type: text }
start: [input, { schedule: { every: 1d } }]
steps:
  - id: large
    if: ${total > 1000}
    then:
      - { id: approval, wait: { signal: approve }, timeout: 2d, on_timeout: reject }
    else:
      - { id: auto, set: { approved: true } }
  - id: by_region
    switch: ${region}
    cases:
      - when: ["81"]
        steps:
          - { id: note_japan, set: { note: Japan } }
      - when: ["82", "8"]
        steps:
          - { id: note_asia, set: { note: "Asia \"East\"" } }
    default:
      - { id: note_other, set: { note: elsewhere } }
  - id: each_line
    for_each: ${lines}
    as: line
    do:
      - id: post_line
        http:
          method: POST
          url: "https://example.com/lines?note=${note}"
          body: { json: { description: "${line.description}" } }
  - id: pause
    timer: { for: 7d }
  - id: check_approved
    if: ${approved}
    then:
      - { id: finished, end: completed }
  - id: again
    goto: large
  - id: reject
    fail: not approved
"#;

/// [`GRAPH_YAML`] in the DSL.
pub const GRAPH_DSL: &str = r#"flow graph_demo

data {
  total: decimal required default 0
  region: select { "8": "East Asia", "81": "Japan", "82": "South Korea" } default "81"
  lines: table {
    description: string required
  }
  approved: bool
  note: text
}

start input
start every 1d

step large = if total > 1000 {
  step approval = wait signal approve timeout 2d on_timeout reject
} else {
  step auto = set { approved = true }
}
step by_region = switch region {
  case "81" {
    step note_japan = set { note = "Japan" }
  }
  case "82", "8" {
    step note_asia = set { note = "Asia \"East\"" }
  }
  default {
    step note_other = set { note = "elsewhere" }
  }
}
step each_line = for_each line in lines {
  step post_line = http POST "https://example.com/lines?note=${note}" {
    body json { description = line.description }
  }
}
step pause = timer for 7d
step check_approved = if approved {
  step finished = end completed
}
step again = goto large
step reject = fail "not approved"
"#;

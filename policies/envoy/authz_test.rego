package envoy.authz_test

import rego.v1

import data.envoy.authz

reviewer := {
	"id": "agent/code-review-bot@team-platform", "tier": 2, "tools": ["search", "repos"],
	"owner": {"name": "Ana Lima", "contact": "ana@example.com"}, "token": {"jti": "t1"},
}

observer := object.union(reviewer, {"id": "agent/metrics-watcher@team-sre", "tier": 1, "tools": ["metrics"]})

req(agent, method, path) := {
	"agent": agent,
	"attributes": {"request": {"http": {"method": method, "path": path, "headers": {}}}},
	"parsed_path": [p | some p in split(trim_prefix(path, "/"), "/")],
}

test_reviewer_may_search if {
	authz.allow with input as req(reviewer, "GET", "/tools/search")
}

test_reviewer_may_not_call_an_unregistered_tool if {
	r := authz.result with input as req(reviewer, "POST", "/tools/deploy")
	not r.allowed
	r.http_status == 403
	body := json.unmarshal(r.body)
	body.reason == `agent "agent/code-review-bot@team-platform" is not registered for tool "deploy"`
	contains(body.next, "warden agent register")
}

test_observer_may_read_but_not_write if {
	authz.allow with input as req(observer, "GET", "/tools/metrics")
	r := authz.result with input as req(observer, "POST", "/tools/metrics")
	json.unmarshal(r.body).reason == `agent "agent/metrics-watcher@team-sre" is tier 1 (read-only observer) and may not POST`
}

test_scoped_token_is_limited_to_its_tools if {
	scoped := object.union(reviewer, {"token": {"jti": "t2", "scope": ["search"]}})
	authz.allow with input as req(scoped, "GET", "/tools/search")
	r := authz.result with input as req(scoped, "GET", "/tools/repos")
	json.unmarshal(r.body).reason == `the token is scoped to ["search"], not to tool "repos"`
}

test_allowed_result_injects_identity_and_drops_the_token if {
	r := authz.result with input as req(reviewer, "GET", "/tools/repos")
	r.allowed
	r.headers["x-warden-agent"] == "agent/code-review-bot@team-platform"
	r.headers["x-warden-owner"] == "ana@example.com"
	r.request_headers_to_remove == ["authorization"]
}

test_non_tool_paths_are_denied if {
	r := authz.result with input as req(reviewer, "GET", "/admin")
	json.unmarshal(r.body).reason == "only /tools/<name> paths are agent tools"
}

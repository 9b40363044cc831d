package envoy.authz_test

import rego.v1

import data.envoy.authz

req(agent, method, path) := {
	"attributes": {"request": {"http": {"method": method, "path": path, "headers": {"x-agent-id": agent}}}},
	"parsed_path": [p | some p in split(trim_prefix(path, "/"), "/")],
}

test_reviewer_may_search if {
	authz.allow with input as req("code-review-bot", "GET", "/tools/search")
}

test_reviewer_may_not_deploy if {
	not authz.allow with input as req("code-review-bot", "POST", "/tools/deploy")
}

test_deployer_may_deploy if {
	authz.allow with input as req("deploy-bot", "POST", "/tools/deploy")
}

test_allowed_result_injects_agent_headers if {
	r := authz.result with input as req("deploy-bot", "POST", "/tools/deploy")
	r.allowed
	r.headers["x-warden-agent"] == "deploy-bot"
	r.headers["x-warden-owner"] == "raj@example.com"
}

test_denial_says_why_and_what_next if {
	r := authz.result with input as req("code-review-bot", "POST", "/tools/deploy")
	not r.allowed
	r.http_status == 403
	body := json.unmarshal(r.body)
	body.reason == `agent "code-review-bot" may not POST tool "deploy"`
	body.next
}

test_unknown_agent_is_denied if {
	r := authz.result with input as req("stranger", "GET", "/tools/search")
	json.unmarshal(r.body).reason == `agent "stranger" is not registered`
}

test_missing_agent_is_denied if {
	r := authz.result with input as {"attributes": {"request": {"http": {"method": "GET", "path": "/tools/search", "headers": {}}}}, "parsed_path": ["tools", "search"]}
	json.unmarshal(r.body).reason == "no agent named in the x-agent-id header"
}

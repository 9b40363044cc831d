package warden.governance_test

import rego.v1

import data.warden.governance as g

req(agent, env, method, host, path, headers) := {
	"attributes": {"request": {"http": {
		"method": method, "host": host, "path": path,
		"headers": object.union({"x-agent-id": agent, "x-environment": env}, headers),
	}}},
	"parsed_path": split(trim_prefix(path, "/"), "/"),
}

test_reviewer_reads_repos_in_prod if {
	g.allowed with input as req("code-review-bot", "prod", "GET", "git.internal", "/tools/repos", {})
}

test_tier_one_may_not_write if {
	g.deny["tier 1 agents may only read; POST is not a read"] with input as req("code-review-bot", "dev", "POST", "git.internal", "/tools/repos", {})
}

test_tool_grants_use_globs if {
	g.allowed with input as req("deploy-bot", "staging", "POST", "tickets.internal", "/tools/tickets/42", {})
	not g.allowed with input as req("deploy-bot", "staging", "POST", "crm.internal", "/tools/crm", {})
}

test_prod_writes_need_an_approval if {
	r := req("deploy-bot", "prod", "POST", "deploy.internal", "/tools/deploy", {})
	g.deny["production writes need an approval ticket in x-approval"] with input as r
	g.allowed with input as req("deploy-bot", "prod", "POST", "deploy.internal", "/tools/deploy", {"x-approval": "CHG-20931"})
}

test_external_hosts_need_tier_three if {
	g.allowed with input as req("support-agent", "prod", "GET", "api.mailer.com", "/tools/mail", {})
	not g.allowed with input as req("deploy-bot", "prod", "GET", "api.mailer.com", "/tools/search", {})
}

test_expired_orphaned_and_killed_agents_are_refused if {
	g.deny[`agent "old-bot" expired on 2020-01-01T00:00:00Z`] with input as req("old-bot", "dev", "GET", "s.internal", "/tools/search", {})
	g.deny[`agent "orphan-bot" has no human owner`] with input as req("orphan-bot", "dev", "GET", "s.internal", "/tools/search", {})
	g.deny[`agent "rogue-bot" is stopped: leaked credentials (INC-1042)`] with input as req("rogue-bot", "dev", "GET", "s.internal", "/tools/search", {})
}

test_denial_lists_every_reason if {
	d := g.decision with input as req("code-review-bot", "qa", "DELETE", "x.com", "/tools/deploy", {})
	body := json.unmarshal(d.body)
	count(body.reasons) == 4
	d.http_status == 403
}

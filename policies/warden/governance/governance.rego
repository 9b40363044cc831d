# Agent governance: what a registered agent may do, in which environment, on which tool.
#
# Every rule that refuses adds a reason to `deny`; the decision allows only when there is
# none. The decision object is OPA-Envoy's result, so this package can be the decision path
# (warden/governance/decision) for Envoy.
package warden.governance

import rego.v1

http := input.attributes.request.http

agent_id := http.headers["x-agent-id"]

agent := data.registry.agents[agent_id]

environment := http.headers["x-environment"]

# The tool is the path under /tools: /tools/tickets/42 -> "tickets/42".
tool := concat("/", array.slice(input.parsed_path, 1, count(input.parsed_path))) if input.parsed_path[0] == "tools"

now := time.now_ns()

# Tier 1 agents observe; tier 2 act inside; tier 3 may also reach external hosts.
read_methods := {"GET", "HEAD", "OPTIONS"}

deny contains "no agent is named in the x-agent-id header" if not agent_id

deny contains sprintf("agent %q is not registered", [agent_id]) if {
	agent_id
	not agent
}

deny contains sprintf("agent %q has no human owner", [agent_id]) if {
	agent
	not agent.owner.email
}

deny contains sprintf("agent %q expired on %s", [agent_id, agent.expires]) if {
	agent
	time.parse_rfc3339_ns(agent.expires) <= now
}

deny contains sprintf("agent %q is stopped: %s", [agent_id, data.registry.killed[agent_id]]) if {
	data.registry.killed[agent_id]
}

deny contains sprintf("agent %q may not act in %q", [agent_id, environment]) if {
	agent
	not environment in agent.environments
}

deny contains sprintf("agent %q may not use tool %q", [agent_id, tool]) if {
	agent
	not tool_granted
}

deny contains sprintf("tier %d agents may only read; %s is not a read", [agent.tier, http.method]) if {
	agent.tier == 1
	not http.method in read_methods
}

deny contains sprintf("tier %d agents may not reach external host %q", [agent.tier, http.host]) if {
	agent.tier < 3
	external_host
}

deny contains "production writes need an approval ticket in x-approval" if {
	environment == "prod"
	not http.method in read_methods
	not regex.match(`^CHG-[0-9]{4,}$`, object.get(http.headers, "x-approval", ""))
}

tool_granted if {
	some grant in agent.tools
	glob.match(grant, ["/"], tool)
}

external_host if {
	not endswith(http.host, ".internal")
	not private_address
}

private_address if {
	net.cidr_is_valid(concat("", [http.host, "/32"]))
	net.cidr_contains("10.0.0.0/8", http.host)
}

allowed if count(deny) == 0

decision := {
	"allowed": true,
	"headers": {"x-warden-agent": agent_id, "x-warden-owner": agent.owner.email, "x-warden-tier": format_int(agent.tier, 10)},
	"request_headers_to_remove": ["x-agent-secret"],
} if allowed

decision := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({
		"error": "forbidden",
		"agent": object.get(input.attributes.request.http.headers, "x-agent-id", null),
		"reasons": sort(deny),
		"next": "see `warden agent show` for the agent's grants, or ask its owner",
	}),
} if not allowed

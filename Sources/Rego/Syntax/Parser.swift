/// Recursive-descent parser for Rego v1 (with the v0 forms OPA's v1 files still use).
///
/// Operator precedence follows OPA's parser, loosest first: `=`/`:=`, `in`, relations
/// (`==` `!=` `<` `<=` `>` `>=`), `|`, `&`, `+` `-`, `*` `/` `%`.
public struct Parser {
    var tokens: [Token]
    var index = 0
    let source: Source
    /// Parsing nests (terms in terms, bodies in comprehensions); a bound keeps hostile
    /// input from exhausting the stack.
    var depth = 0
    static let maxDepth = 200
    /// False while parsing the first element of `[…]` or `{…}`: there `|` opens a
    /// comprehension body instead of meaning set union.
    var allowOr = true
    /// `import future.keywords.not` makes `not { … }` negate a whole body (OPA's
    /// future keyword): the body has no solution.
    var negatesBodies = false

    init(tokens: [Token], source: Source) {
        self.tokens = tokens
        self.source = source
    }

    // MARK: - Entry points

    public static func parseModule(_ source: Source) throws(RegoError) -> Module {
        var p = Parser(tokens: try Lexer.tokenize(source), source: source)
        return try p.module()
    }

    /// Parses a query: expressions separated by `;` or new lines.
    public static func parseQuery(_ text: String, file: String = "") throws(RegoError) -> [Expr] {
        let source = Source(name: file, text: text)
        var p = Parser(tokens: try Lexer.tokenize(source), source: source)
        if p.peek.kind == .eof { throw RegoError(.parse, "empty query", at: p.peek.location) }
        let body = try p.exprList(until: nil)
        if p.peek.kind != .eof { throw p.unexpected() }
        return body
    }

    // MARK: - Tokens

    var peek: Token { tokens[index] }
    func peek(_ n: Int) -> Token { tokens[min(index + n, tokens.count - 1)] }

    @discardableResult
    mutating func advance() -> Token {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    mutating func expect(_ p: String) throws(RegoError) -> Token {
        guard peek.isPunct(p) else { throw unexpected(expected: p) }
        return advance()
    }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: return "eof token"
        case .ident: return isKeyword(t.text) ? "\(t.text) keyword" : "ident token"
        case .string, .rawString, .template: return "string token"
        case .number: return "number token"
        case .punct: return "\(t.text) token"
        }
    }

    func unexpected(expected: String? = nil) -> RegoError {
        let t = peek
        var msg = "unexpected \(describe(t))"
        if let expected { msg += ": expected \(expected)" }
        return RegoError(.parse, msg, at: t.location)
    }

    func isKeyword(_ s: String) -> Bool { Parser.keywords.contains(s) }
    static let keywords: Set<String> = ["package", "import", "as", "default", "else", "if", "contains", "some", "in", "every", "not", "with", "true", "false", "null"]

    mutating func nest() throws(RegoError) {
        depth += 1
        if depth > Parser.maxDepth { throw RegoError(.parse, "policy nested too deeply (limit \(Parser.maxDepth))", at: peek.location) }
    }

    // MARK: - Module

    mutating func module() throws(RegoError) -> Module {
        guard peek.isIdent("package") else {
            throw RegoError(.parse, peek.kind == .eof ? "empty module" : "package expected", at: peek.location)
        }
        let pkgTok = advance()
        let pkgRef = try refTerm(allowCalls: false)
        var package: [String] = []
        switch pkgRef.kind {
        case .variable(let name): package = [name]
        case .ref(let head, let path):
            guard case .variable(let name) = head.kind else { throw RegoError(.parse, "invalid package name", at: pkgRef.location) }
            package = [name]
            for p in path {
                guard case .value(.string(let s)) = p.kind else { throw RegoError(.parse, "package path must be made of strings", at: p.location) }
                package.append(s)
            }
        default: throw RegoError(.parse, "invalid package name", at: pkgRef.location)
        }
        var imports: [Import] = []
        var rules: [Rule] = []
        while peek.kind != .eof {
            if peek.isIdent("import") && !(peek(1).isPunct(".") || peek(1).isPunct("[")) {
                let imported = try importDecl()
                if Parser.dottedName(imported.path) == ["future", "keywords", "not"] { negatesBodies = true }
                imports.append(imported)
                continue
            }
            if peek.isIdent("package") && !(peek(1).isPunct(".") || peek(1).isPunct("[")) {
                throw RegoError(.parse, "unexpected package keyword: only one package per module", at: peek.location)
            }
            rules.append(try rule())
        }
        return Module(source: source, package: package, packageLocation: pkgTok.location, imports: imports, rules: rules)
    }

    mutating func importDecl() throws(RegoError) -> Import {
        let tok = advance()
        let path = try refTerm(allowCalls: false)
        var alias: String?
        if peek.isIdent("as") && !peek.newlineBefore {
            advance()
            guard peek.kind == .ident else { throw unexpected(expected: "ident") }
            alias = advance().text
        }
        return Import(path: path, alias: alias, location: tok.location)
    }

    // MARK: - Rules

    mutating func rule() throws(RegoError) -> Rule {
        let start = peek
        var isDefault = false
        if peek.isIdent("default") && peek(1).kind == .ident && !peek(1).newlineBefore {
            advance()
            isDefault = true
        }
        guard peek.kind == .ident else { throw unexpected(expected: "rule") }
        let headTerm = try refTerm(allowCalls: false)
        let rule = Rule(headRef: try headComponents(headTerm), location: start.location)
        rule.isDefault = isDefault

        // Function arguments.
        if peek.isPunct("(") && !peek.newlineBefore {
            advance()
            var args: [Term] = []
            if !peek.isPunct(")") {
                while true {
                    args.append(try termInfix())
                    if peek.isPunct(",") { advance(); continue }
                    break
                }
            }
            _ = try expect(")")
            rule.args = args
        }

        if peek.isIdent("contains") && !peek.newlineBefore && !peek(1).isPunct(".") {
            advance()
            rule.key = try termInfix()
            rule.isMultiValue = true
        } else if (peek.isPunct(":=") || peek.isPunct("=")) && !peek.newlineBefore {
            advance()
            rule.value = try termInfix()
        } else if peek.isPunct("[") {
            throw unexpected()
        }

        if isDefault {
            guard rule.value != nil else {
                throw RegoError(.parse, "default rule must have a value", at: start.location)
            }
            return rule
        }

        try ruleBody(rule)
        // `else` chains.
        var tail = rule
        while peek.isIdent("else") && !peek(1).isPunct(".") {
            let elseTok = advance()
            let e = Rule(headRef: rule.headRef, location: elseTok.location)
            e.args = rule.args
            if peek.isPunct(":=") || peek.isPunct("=") {
                advance()
                e.value = try termInfix()
            }
            try ruleBody(e)
            tail.elseRule = e
            tail = e
        }
        if !rule.hasExplicitBody && rule.value == nil && rule.key == nil {
            throw RegoError(.parse, "rule must have a body or a value", at: start.location)
        }
        return rule
    }

    /// `if { ... }`, `if expr`, or a v0-style `{ ... }` block.
    mutating func ruleBody(_ rule: Rule) throws(RegoError) {
        if peek.isIdent("if") && !peek(1).isPunct(".") {
            advance()
            rule.hasExplicitBody = true
            if peek.isPunct("{") && looksLikeBody() {
                rule.body = try bracedBody()
            } else {
                rule.body = [try expr()]
            }
        } else if peek.isPunct("{") && !peek.newlineBefore || (peek.isPunct("{") && rule.value == nil && rule.key == nil) {
            rule.hasExplicitBody = true
            rule.body = try bracedBody()
        }
    }

    /// After `if`, `{` opens a body unless it is an object or set literal used as an expression
    /// (`if {"a": 1}[x]`): a literal would be followed by `[`/`.` or an operator on the same line.
    func looksLikeBody() -> Bool {
        var depth = 0
        var i = index
        while i < tokens.count {
            let t = tokens[i]
            if t.kind == .eof { return true }
            if t.isPunct("{") || t.isPunct("[") || t.isPunct("(") { depth += 1 }
            if t.isPunct("}") || t.isPunct("]") || t.isPunct(")") {
                depth -= 1
                if depth == 0 {
                    let n = tokens[min(i + 1, tokens.count - 1)]
                    if n.newlineBefore || n.kind == .eof { return true }
                    if n.isPunct("[") || n.isPunct(".") || n.isPunct("==") || n.isPunct("!=") { return false }
                    return true
                }
            }
            i += 1
        }
        return true
    }

    /// Splits a head reference into name and components (all as terms).
    func headComponents(_ t: Term) throws(RegoError) -> [Term] {
        switch t.kind {
        case .variable(let name): return [Term.string(name, t.location)]
        case .ref(let head, let path):
            guard case .variable(let name) = head.kind else { throw RegoError(.parse, "invalid rule head", at: t.location) }
            return [Term.string(name, head.location)] + path
        default:
            throw RegoError(.parse, "invalid rule head", at: t.location)
        }
    }

    mutating func bracedBody() throws(RegoError) -> [Expr] {
        let open = try expect("{")
        try nest()
        defer { depth -= 1 }
        if peek.isPunct("}") { throw RegoError(.parse, "found empty body", at: open.location) }
        let body = try exprList(until: "}")
        _ = try expect("}")
        return body
    }

    /// Expressions separated by `;` or new lines, up to `until` (not consumed) or eof.
    mutating func exprList(until close: String?) throws(RegoError) -> [Expr] {
        var body: [Expr] = []
        while true {
            body.append(try expr())
            if peek.isPunct(";") {
                advance()
                continue
            }
            if let close, peek.isPunct(close) { return body }
            if peek.kind == .eof {
                if close != nil { throw unexpected(expected: close) }
                return body
            }
            if peek.newlineBefore { continue }
            throw unexpected()
        }
    }

    // MARK: - Expressions

    mutating func expr() throws(RegoError) -> Expr {
        let start = peek
        let startIndex = index
        var e: Expr
        if negatesBodies && peek.isIdent("not") && peek(1).isPunct("{") && !peek(1).newlineBefore {
            // `not { body }` holds when the body has no solution: the first element of
            // `[true | body]` is undefined. The comprehension gives the body its own scope,
            // so `:=` inside shadows the enclosing body's variables, as in OPA.
            advance()
            let open = peek
            let body = try bracedBody()
            let solutions = Term(.arrayComprehension(Term(.value(.bool(true)), open.location), body), open.location)
            let first = Term(.ref(solutions, [Term(.value(.int(0)), open.location)]), open.location)
            e = Expr(.term(first), start.location)
            e.negated = true
        } else if peek.isIdent("not") && !peek(1).isPunct(".") && !peek(1).isPunct("[") && !peek(1).isPunct("=") && !peek(1).isPunct(":=") {
            advance()
            var inner = try expr()
            if inner.negated { throw RegoError(.parse, "unexpected not keyword", at: start.location) }
            inner.negated = true
            e = inner
            e = Expr(inner.kind, start.location)
            e.negated = true
            e.withs = inner.withs
            e.text = sourceText(from: startIndex)
            return e
        } else if peek.isIdent("some") && !peek(1).newlineBefore && !(peek(1).kind == .punct && [".", "[", "(", "=", ":=", "==", "!=", ")", "]", "}", ",", ";"].contains(peek(1).text)) && !peek(1).isIdent("in") {
            e = try someExpr()
        } else if peek.isIdent("every") && peek(1).kind == .ident {
            e = try everyExpr()
        } else {
            let lhs = try termInfix(allowKeyValueIn: true)
            if (peek.isPunct("=") || peek.isPunct(":=")) && !peek.newlineBefore {
                let op = advance()
                let rhs = try termInfix(allowKeyValueIn: true)
                e = Expr(op.text == "=" ? .unify(lhs, rhs) : .assign(lhs, rhs), start.location)
            } else {
                e = Expr(.term(lhs), start.location)
            }
        }
        while peek.isIdent("with") {
            let w = advance()
            let target = try refTerm(allowCalls: false)
            guard peek.isIdent("as") else { throw unexpected(expected: "as") }
            advance()
            let value = try termInfix()
            e.withs.append(WithModifier(target: target, value: value, location: w.location))
        }
        e.text = sourceText(from: startIndex)
        return e
    }

    func sourceText(from startIndex: Int) -> String {
        guard startIndex < index else { return "" }
        let first = tokens[startIndex].location
        let last = tokens[index - 1]
        let lines = source.text.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.row == last.location.row, first.row - 1 < lines.count else {
            return tokens[startIndex..<index].map { $0.kind == .string ? Value.string($0.text).jsonString() : $0.text }.joined(separator: " ")
        }
        let line = Array(lines[first.row - 1].utf8)
        let endCol = last.location.col - 1 + max(1, tokenLength(last))
        let from = max(0, first.col - 1), to = min(line.count, endCol)
        guard from < to else { return "" }
        return String(decoding: line[from..<to], as: UTF8.self)
    }

    func tokenLength(_ t: Token) -> Int {
        switch t.kind {
        case .string: return Value.string(t.text).jsonString().utf8.count
        case .rawString: return t.text.utf8.count + 2
        default: return t.text.utf8.count
        }
    }

    mutating func someExpr() throws(RegoError) -> Expr {
        let tok = advance()
        // `some x, y` or `some x in xs` / `some k, v in xs`
        let first = try termInfix(allowKeyValueIn: true)
        if case .call(.builtin(let b), let args) = first.kind, b.name == "internal.member_2" || b.name == "internal.member_3" {
            if args.count == 2 {
                return Expr(.someIn(key: nil, value: args[0], collection: args[1]), tok.location)
            }
            return Expr(.someIn(key: args[0], value: args[1], collection: args[2]), tok.location)
        }
        var vars = [first]
        while peek.isPunct(",") {
            advance()
            let t = try termInfix(allowKeyValueIn: true)
            if case .call(.builtin(let b), let args) = t.kind, b.name == "internal.member_2", vars.count == 1 {
                return Expr(.someIn(key: vars[0], value: args[0], collection: args[1]), tok.location)
            }
            vars.append(t)
        }
        for v in vars {
            guard case .variable = v.kind else { throw RegoError(.parse, "expected var in some declaration", at: v.location) }
        }
        return Expr(.someDecl(vars), tok.location)
    }

    mutating func everyExpr() throws(RegoError) -> Expr {
        let tok = advance()
        let first = try termPrimaryVar()
        var key: Term?
        var value = first
        if peek.isPunct(",") {
            advance()
            key = first
            value = try termPrimaryVar()
        }
        guard peek.isIdent("in") else { throw unexpected(expected: "in") }
        advance()
        let coll = try termRelation()
        let body = try bracedBody()
        return Expr(.every(key: key, value: value, collection: coll, body: body), tok.location)
    }

    mutating func termPrimaryVar() throws(RegoError) -> Term {
        guard peek.kind == .ident, !isKeyword(peek.text) || peek.text == "_" else { throw unexpected(expected: "var") }
        let t = advance()
        return Term(.variable(t.text), t.location)
    }

    // MARK: - Infix terms

    static func call(_ name: String, _ args: [Term], _ loc: Location) -> Term {
        Term(.call(.builtin(BuiltinRef(name)), args), loc)
    }

    /// `in` level: `x in xs`, and where allowed `k, v in xs` (in `some`, queries, bodies).
    mutating func termInfix(allowKeyValueIn: Bool = false) throws(RegoError) -> Term {
        try nest()
        defer { depth -= 1 }
        var lhs = try termRelation()
        while true {
            if peek.isIdent("in") && !peek.newlineBefore {
                advance()
                let rhs = try termRelation()
                lhs = Parser.call("internal.member_2", [lhs, rhs], lhs.location)
                continue
            }
            if allowKeyValueIn && peek.isPunct(",") && isKeyValueIn() {
                advance()
                let value = try termRelation()
                guard peek.isIdent("in") else { throw unexpected(expected: "in") }
                advance()
                let rhs = try termRelation()
                lhs = Parser.call("internal.member_3", [lhs, value, rhs], lhs.location)
                continue
            }
            return lhs
        }
    }

    /// Looks ahead for `, term in` at this nesting level.
    func isKeyValueIn() -> Bool {
        var depth = 0
        var i = index + 1
        while i < tokens.count {
            let t = tokens[i]
            if t.kind == .eof { return false }
            if t.isPunct("(") || t.isPunct("[") || t.isPunct("{") { depth += 1 }
            else if t.isPunct(")") || t.isPunct("]") || t.isPunct("}") {
                if depth == 0 { return false }
                depth -= 1
            } else if depth == 0 {
                if t.isIdent("in") { return true }
                if t.isPunct(",") || t.isPunct(";") || t.isPunct("=") || t.isPunct(":=") || t.newlineBefore && i > index + 1 { return false }
            }
            i += 1
        }
        return false
    }

    static let relationOps: [String: String] = ["==": "equal", "!=": "neq", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"]

    mutating func termRelation() throws(RegoError) -> Term {
        var lhs = try termOr()
        while peek.kind == .punct, let op = Parser.relationOps[peek.text], !peek.newlineBefore {
            advance()
            let rhs = try termOr()
            lhs = Parser.call(op, [lhs, rhs], lhs.location)
        }
        return lhs
    }

    mutating func termOr() throws(RegoError) -> Term {
        var lhs = try termAnd()
        while allowOr && peek.isPunct("|") && !peek.newlineBefore {
            advance()
            lhs = Parser.call("or", [lhs, try termAnd()], lhs.location)
        }
        return lhs
    }

    mutating func termAnd() throws(RegoError) -> Term {
        var lhs = try termArith()
        while peek.isPunct("&") && !peek.newlineBefore {
            advance()
            lhs = Parser.call("and", [lhs, try termArith()], lhs.location)
        }
        return lhs
    }

    mutating func termArith() throws(RegoError) -> Term {
        var lhs = try termFactor()
        while (peek.isPunct("+") || peek.isPunct("-")) && !peek.newlineBefore {
            let op = advance()
            lhs = Parser.call(op.text == "+" ? "plus" : "minus", [lhs, try termFactor()], lhs.location)
        }
        return lhs
    }

    mutating func termFactor() throws(RegoError) -> Term {
        var lhs = try term()
        while (peek.isPunct("*") || peek.isPunct("/") || peek.isPunct("%")) && !peek.newlineBefore {
            let op = advance()
            let name = op.text == "*" ? "mul" : (op.text == "/" ? "div" : "rem")
            lhs = Parser.call(name, [lhs, try term()], lhs.location)
        }
        return lhs
    }

    // MARK: - Primary terms

    mutating func term() throws(RegoError) -> Term {
        try nest()
        let savedAllowOr = allowOr
        defer { depth -= 1; allowOr = savedAllowOr }
        let t = peek
        if t.isPunct("(") || t.isPunct("[") || t.isPunct("{") { allowOr = true }
        var result: Term
        switch t.kind {
        case .number:
            advance()
            guard let n = Number(text: t.text) else { throw RegoError(.parse, "invalid number", at: t.location) }
            result = Term(.value(.number(n)), t.location)
        case .string, .rawString:
            advance()
            result = Term(.value(.string(t.text)), t.location)
        case .template:
            advance()
            result = try templateTerm(t)
        case .ident:
            // `true.foo`, `else.x`: keywords may head references (and rule names).
            if isKeyword(t.text) && peek(1).isPunct(".") && !peek(1).newlineBefore {
                return try refTerm(allowCalls: true)
            }
            switch t.text {
            case "true": advance(); result = Term(.value(.true), t.location)
            case "false": advance(); result = Term(.value(.false), t.location)
            case "null": advance(); result = Term(.value(.null), t.location)
            case "set" where peek(1).isPunct("(") && peek(2).isPunct(")") && !peek(1).newlineBefore:
                advance(); advance(); advance()
                result = Term(.set([]), t.location)
            default:
                if isKeyword(t.text) && !["in", "contains", "as", "if", "else", "default", "package", "import", "every", "some", "not", "with"].contains(t.text) {
                    throw unexpected()
                }
                if t.text == "with" || t.text == "in" || t.text == "if" || t.text == "else" {
                    throw unexpected(expected: "term")
                }
                return try refTerm(allowCalls: true)
            }
        case .punct:
            switch t.text {
            case "(":
                advance()
                let inner = try termInfix(allowKeyValueIn: true)
                _ = try expect(")")
                result = inner
            case "[":
                result = try arrayTerm()
            case "{":
                result = try braceTerm()
            case "-":
                advance()
                if peek.kind == .number && !peek.newlineBefore {
                    let n = advance()
                    guard let num = Number(text: "-" + n.text) else { throw RegoError(.parse, "invalid number", at: n.location) }
                    result = Term(.value(.number(num)), t.location)
                } else {
                    let operand = try term()
                    result = Parser.call("minus", [Term(.value(.int(0)), t.location), operand], t.location)
                }
            default:
                throw unexpected()
            }
        case .eof:
            throw unexpected()
        }
        return try refSuffix(result, allowCalls: true)
    }

    /// A name and its `.field`, `[term]` and `(args)` suffixes.
    mutating func refTerm(allowCalls: Bool) throws(RegoError) -> Term {
        let t = advance()
        guard t.kind == .ident else { throw RegoError(.parse, "unexpected \(describe(t)): expected ident", at: t.location) }
        return try refSuffix(Term(.variable(t.text), t.location), allowCalls: allowCalls)
    }

    mutating func refSuffix(_ start: Term, allowCalls: Bool) throws(RegoError) -> Term {
        var head = start
        var path: [Term] = []
        func current() -> Term { path.isEmpty ? head : Term(.ref(head, path), head.location) }
        while true {
            let t = peek
            if t.newlineBefore { break }
            if t.isPunct(".") {
                advance()
                let f = advance()
                guard f.kind == .ident else { throw RegoError(.parse, "unexpected \(describe(f)): expected ident", at: f.location) }
                path.append(Term.string(f.text, f.location))
            } else if t.isPunct("[") {
                advance()
                let k = try termInfix()
                _ = try expect("]")
                path.append(k)
            } else if t.isPunct("(") && allowCalls {
                advance()
                var args: [Term] = []
                if !peek.isPunct(")") {
                    while true {
                        args.append(try termInfix())
                        if peek.isPunct(",") { advance(); if peek.isPunct(")") { break }; continue }
                        break
                    }
                }
                _ = try expect(")")
                let callee = current()
                guard let name = Parser.dottedName(callee) else {
                    throw RegoError(.parse, "invalid function name", at: callee.location)
                }
                head = Term(.call(.name(name, callee.location), args), callee.location)
                path = []
            } else {
                break
            }
        }
        return current()
    }

    static func dottedName(_ t: Term) -> [String]? {
        switch t.kind {
        case .variable(let n): return [n]
        case .ref(let head, let path):
            guard case .variable(let n) = head.kind else { return nil }
            var out = [n]
            for p in path {
                guard case .value(.string(let s)) = p.kind else { return nil }
                out.append(s)
            }
            return out
        default: return nil
        }
    }

    /// The first element of a collection literal, where `|` starts a comprehension body.
    mutating func firstElement() throws(RegoError) -> Term {
        let saved = allowOr
        allowOr = false
        defer { allowOr = saved }
        return try termInfix()
    }

    mutating func arrayTerm() throws(RegoError) -> Term {
        let open = advance()
        if peek.isPunct("]") { advance(); return Term(.array([]), open.location) }
        let first = try firstElement()
        if peek.isPunct("|") {
            advance()
            let body = try exprList(until: "]")
            _ = try expect("]")
            return Term(.arrayComprehension(first, body), open.location)
        }
        var items = [first]
        allowOr = true
        while peek.isPunct(",") {
            advance()
            if peek.isPunct("]") { break }
            items.append(try termInfix())
        }
        _ = try expect("]")
        return Term(.array(items), open.location)
    }

    mutating func braceTerm() throws(RegoError) -> Term {
        let open = advance()
        if peek.isPunct("}") { advance(); return Term(.object([]), open.location) }
        let first = try firstElement()
        if peek.isPunct(":") {
            advance()
            let firstValue = try firstElement()
            if peek.isPunct("|") {
                advance()
                let body = try exprList(until: "}")
                _ = try expect("}")
                return Term(.objectComprehension(first, firstValue, body), open.location)
            }
            var pairs = [(first, firstValue)]
            while peek.isPunct(",") {
                advance()
                if peek.isPunct("}") { break }
                let k = try termInfix()
                _ = try expect(":")
                pairs.append((k, try termInfix()))
            }
            _ = try expect("}")
            return Term(.object(pairs), open.location)
        }
        if peek.isPunct("|") {
            advance()
            let body = try exprList(until: "}")
            _ = try expect("}")
            return Term(.setComprehension(first, body), open.location)
        }
        var items = [first]
        while peek.isPunct(",") {
            advance()
            if peek.isPunct("}") { break }
            items.append(try termInfix())
        }
        _ = try expect("}")
        return Term(.set(items), open.location)
    }

    mutating func templateTerm(_ t: Token) throws(RegoError) -> Term {
        var pieces: [TemplatePiece] = []
        for part in t.parts {
            switch part {
            case .text(let s): pieces.append(.text(s))
            case .expression(let toks):
                var sub = Parser(tokens: toks, source: source)
                sub.depth = depth
                if sub.peek.kind == .eof { throw RegoError(.parse, "empty template expression", at: t.location) }
                let e = try sub.expr()
                if sub.peek.kind != .eof { throw sub.unexpected() }
                pieces.append(.expression(e))
            }
        }
        return Term(.template(pieces), t.location)
    }
}

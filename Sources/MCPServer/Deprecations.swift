//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// Names that changed when the runtime was named for what things are rather than for when they were written.
@available(*, deprecated, renamed: "SessionState")
public typealias LegacySession = SessionState

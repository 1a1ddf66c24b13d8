// The upstream-libcni build of the driver: the runtime's span goes into libcni's context as a
// remote span context, as containerd's or go-cni's tracing would leave it; libcni (after
// v1.3.0, pkg/invoke injectTraceContext) then sets TRACEPARENT/TRACESTATE for each plugin.
package main

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

func init() {
	withRuntimeSpan = func(ctx context.Context, traceparent string) context.Context {
		if traceparent == "" {
			return ctx
		}
		return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
	}
}

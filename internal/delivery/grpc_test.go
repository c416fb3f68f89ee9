package delivery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/estatehq/estate/internal/delivery"
)

func withRetryInfo(t *testing.T, c codes.Code, d time.Duration) error {
	t.Helper()
	st, err := status.New(c, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	require.NoError(t, err)
	return st.Err()
}

func TestGRPCError(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		class string // "permanent", "throttle", "transient"
		delay time.Duration
	}{
		{"canceled", status.Error(codes.Canceled, ""), "transient", 0},
		{"deadline exceeded", status.Error(codes.DeadlineExceeded, ""), "transient", 0},
		{"aborted", status.Error(codes.Aborted, ""), "transient", 0},
		{"out of range", status.Error(codes.OutOfRange, ""), "transient", 0},
		{"unavailable", status.Error(codes.Unavailable, ""), "transient", 0},
		{"data loss", status.Error(codes.DataLoss, ""), "transient", 0},
		{"unavailable with retry info", withRetryInfo(t, codes.Unavailable, 2*time.Second), "throttle", 2 * time.Second},
		{"resource exhausted with retry info", withRetryInfo(t, codes.ResourceExhausted, time.Second), "throttle", time.Second},
		{"resource exhausted without", status.Error(codes.ResourceExhausted, "too big"), "permanent", 0},
		{"invalid argument", status.Error(codes.InvalidArgument, ""), "permanent", 0},
		{"invalid argument with retry info", withRetryInfo(t, codes.InvalidArgument, time.Second), "permanent", 0},
		{"unauthenticated", status.Error(codes.Unauthenticated, ""), "permanent", 0},
		{"permission denied", status.Error(codes.PermissionDenied, ""), "permanent", 0},
		{"unimplemented", status.Error(codes.Unimplemented, ""), "permanent", 0},
		{"internal", status.Error(codes.Internal, ""), "permanent", 0},
		{"not a status", errors.New("what"), "permanent", 0}, // codes.Unknown
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := delivery.GRPCError(tc.err)
			require.ErrorIs(t, got, tc.err)
			require.Equal(t, status.Code(tc.err), status.Code(got), "the status survives the wrapping")
			d, throttled := delivery.RetryAfter(got)
			require.Equal(t, tc.class == "permanent", delivery.IsPermanent(got))
			require.Equal(t, tc.class == "throttle", throttled)
			require.Equal(t, tc.delay, d)
		})
	}
	require.NoError(t, delivery.GRPCError(nil))
}

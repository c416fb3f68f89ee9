package delivery

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GRPCError classifies the error of an OTLP/gRPC call as the OTLP
// specification does. Canceled, DeadlineExceeded, Aborted, OutOfRange,
// Unavailable and DataLoss are retryable; ResourceExhausted only when the
// server says when to come back (a RetryInfo), as it may otherwise mean the
// request itself is too large; every other code is a *PermanentError. A
// retryable error with a RetryInfo is a *ThrottleError with its delay;
// without, err as it is (transient). nil stays nil.
func GRPCError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	delay, hasDelay := retryInfo(st)
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
	case codes.ResourceExhausted:
		if !hasDelay {
			return &PermanentError{Err: err}
		}
	default:
		return &PermanentError{Err: err}
	}
	if hasDelay {
		return &ThrottleError{Err: err, Delay: delay}
	}
	return err
}

// retryInfo is the delay of the google.rpc.RetryInfo in st's details, and
// whether there is one.
func retryInfo(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return max(ri.GetRetryDelay().AsDuration(), 0), true
		}
	}
	return 0, false
}

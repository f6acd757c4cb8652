package arm

import (
	"errors"
	"fmt"
	"net/http"

	"encoding/json"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is an ARM error response: the HTTP status plus ARM's error code and message. It
// wraps the *azcore.ResponseError, so errors.As works with either type.
type Error struct {
	Method     string
	ID         string
	StatusCode int
	Code       string // ARM's error.code, e.g. ResourceNotFound, Conflict
	Message    string // ARM's error.message
	resp       *azcore.ResponseError
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.ID, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap exposes the azcore error.
func (e *Error) Unwrap() error { return e.resp }

// OperationError is a long-running operation that ended Failed or Canceled; Code and
// Message are ARM's, which usually say exactly what to fix.
type OperationError struct {
	Method  string
	ID      string
	Status  string // Failed or Canceled
	Code    string
	Message string
}

func (e *OperationError) Error() string {
	msg := fmt.Sprintf("%s %s: the operation ended %s", e.Method, e.ID, e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func responseError(method, id string, resp *http.Response) error {
	re, ok := runtime.NewResponseError(resp).(*azcore.ResponseError)
	e := &Error{Method: method, ID: id, StatusCode: resp.StatusCode}
	if ok {
		e.resp = re
		e.Code = re.ErrorCode
	}
	if b, err := runtime.Payload(resp); err == nil {
		var body struct {
			Error errorBody `json:"error"`
		}
		if json.Unmarshal(b, &body) == nil {
			if body.Error.Code != "" {
				e.Code = body.Error.Code
			}
			e.Message = body.Error.Message
		}
	}
	return e
}

// StatusCode returns the HTTP status of an ARM error response, or 0.
func StatusCode(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports a 404 from ARM (ResourceNotFound, ResourceGroupNotFound, …).
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsConflict reports a 409 from ARM.
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

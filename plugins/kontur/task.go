package kontur

import (
	"net/http"

	"github.com/signet-agent/signet/plugins/kontur/store"
)

// taskInfo is Kontur's TaskInfo.
type taskInfo struct {
	ID     string    `json:"id"`
	Type   string    `json:"task-type"`
	State  string    `json:"task-state"` // running, succeed, failed
	Result any       `json:"task-result,omitempty"`
	Error  *apiError `json:"error,omitempty"`
}

// task answers GET …/tasks/{task}: a request waiting for its code or being
// executed is "running".
func (s *Server) task(p place) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		req, err := s.st.Task(r.Context(), c.account.ID, r.PathValue("task"))
		target, _ := p.target(r)
		if err == nil && req.Target != target {
			err = store.ErrNotFound
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, s.taskInfo(r, p, req))
	}
}

func (s *Server) taskInfo(r *http.Request, p place, req store.Request) taskInfo {
	t := taskInfo{ID: req.TaskID, Type: req.TaskType(), State: "running"}
	switch req.State {
	case store.StateSucceed:
		t.State = "succeed"
		if req.Kind == "decrypt" {
			t.Result = map[string]string{"content-id": req.TaskID}
		} else {
			t.Result = map[string]any{"signed-documents": s.signedLinks(r, p, req)}
		}
	case store.StateFailed:
		t.State = "failed"
		t.Error = &apiError{ID: req.ErrorID, StatusCode: http.StatusInternalServerError, Message: req.ErrorMsg}
	}
	return t
}

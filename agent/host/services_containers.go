package host

import (
	"context"
	"fmt"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// containerKey is the key of an uploaded container, for its plugin and
// origin only.
func (s *services) containerKey(uri, origin string) (hsm.KeyInfo, error) {
	if _, err := s.m.uploads.owner(s.plugin, origin, uri); err != nil {
		return hsm.KeyInfo{}, err
	}
	return s.m.uploads.key(uri)
}

// OpenContainer holds an uploaded PKCS#12 container for this plugin and
// the operation's origin. Opening is the origin's use of the key store
// (the first-use question, origin policy); it asks for no password.
func (s *services) OpenContainer(ctx context.Context, req *pb.OpenContainerRequest) (*pb.OpenContainerResponse, error) {
	if req.GetOp() != nil {
		req.Op.ForChoice = false
	}
	_, creq, err := s.allow(ctx, consent.List, req.GetOp(), "")
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	handle, keys, err := s.m.uploads.open(s.plugin, creq.Origin, req.GetData())
	hsm.Wipe(req.Data)
	if err != nil {
		s.log.Info("key container refused", "origin", creq.Origin, "bytes", len(req.GetData()), "error", err)
		return nil, wire.ToStatus(err)
	}
	resp := &pb.OpenContainerResponse{Handle: handle}
	for _, k := range keys {
		pk, err := wire.KeyToProto(k)
		if err != nil {
			s.m.uploads.close(s.plugin, handle)
			return nil, wire.ToStatus(err)
		}
		resp.Keys = append(resp.Keys, pk)
	}
	s.log.Info("key container opened", "origin", creq.Origin, "handle", handle, "keys", len(keys))
	return resp, nil
}

// CloseContainer forgets one of this plugin's containers.
func (s *services) CloseContainer(_ context.Context, req *pb.CloseContainerRequest) (*pb.CloseContainerResponse, error) {
	if !s.m.uploads.close(s.plugin, req.GetHandle()) {
		return nil, wire.ToStatus(fmt.Errorf("no open key container %q: %w", clip(req.GetHandle()), hsm.ErrKeyNotFound))
	}
	s.log.Info("key container closed", "handle", req.GetHandle())
	return &pb.CloseContainerResponse{}, nil
}

// UnlockContainer opens a container with a password a page sent, when
// policy lets the origin pass passwords. The password is wiped here and
// appears in no log, error or journal record.
func (s *services) UnlockContainer(ctx context.Context, req *pb.UnlockContainerRequest) (*pb.UnlockContainerResponse, error) {
	defer hsm.Wipe(req.Password)
	if err := wire.CheckOperation(req.GetOp()); err != nil {
		return nil, wire.ToStatus(err)
	}
	origin := req.GetOp().GetOrigin()
	uri := ""
	for _, k := range s.m.uploads.keys(s.plugin, origin) {
		if name, _ := pfx.IsMemoryURI(k.URI); name == req.GetHandle() && k.HasPrivateKey {
			uri = k.URI
			break
		}
	}
	if uri == "" {
		return nil, wire.ToStatus(fmt.Errorf("no open key container %q for this origin: %w", clip(req.GetHandle()), hsm.ErrKeyNotFound))
	}
	c, err := s.m.uploads.owner(s.plugin, origin, uri)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	if len(req.GetPassword()) == 0 || len(req.GetPassword()) > wire.MaxText {
		return nil, wire.ToStatus(fmt.Errorf("a container password of %d bytes: %w", len(req.GetPassword()), hsm.ErrInvalidRequest))
	}
	used, err := s.m.uploads.unlock(ctx, c, uri, req.GetPassword())
	if !used {
		s.log.Info("dropped a password the page sent: the policy does not let this origin pass passwords", "origin", origin, "handle", c.handle)
		return &pb.UnlockContainerResponse{}, nil
	}
	if err != nil {
		s.log.Info("key container not unlocked with the page's password", "origin", origin, "handle", c.handle, "error", err)
		return nil, wire.ToStatus(err)
	}
	s.log.Info("key container unlocked with the page's password (policy.password_origins)", "origin", origin, "handle", c.handle)
	return &pb.UnlockContainerResponse{Used: true}, nil
}

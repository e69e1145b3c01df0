package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"mailgrid/internal/directory"
)

// TOTP (RFC 6238) with the parameters every authenticator app supports: SHA-1, six
// digits, 30-second steps, a 160-bit secret (RFC 4226 4 recommends at least 128). A code
// is accepted for the current step and one step either side (RFC 6238 5.2: network delay
// and clock drift), and each step at most once per account (directory.TOTPStore).
const totpPeriod = 30

func totpOpts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
}

// totpStep returns the time step (RFC 6238 4.2, T) code belongs to near now, or false.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	for _, skew := range []int64{0, -1, 1} {
		t := now.Add(time.Duration(skew*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts())
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

// secondFactor checks code when the account has TOTP enabled.
func (s *Server) secondFactor(ctx context.Context, a directory.Account, code string) error {
	st, err := s.auth.TOTP(ctx, a.ID)
	if errors.Is(err, directory.ErrNotFound) || err == nil && !st.Enabled {
		return nil
	}
	if err != nil {
		return err
	}
	if code == "" {
		return apiErr(http.StatusUnauthorized, "totp_required", "this account needs its authenticator code (field totp)")
	}
	step, ok := totpStep(st.Secret, code, s.now())
	if ok {
		if ok, err = s.auth.UseTOTPStep(ctx, a.ID, step); err != nil {
			return err
		}
	}
	if !ok {
		return apiErr(http.StatusUnauthorized, "totp_invalid", "wrong or already used authenticator code")
	}
	return nil
}

type totpEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// apiTOTPStart begins enrolment: a new pending secret (POST /api/v1/me/totp).
func (s *Server) apiTOTPStart(w http.ResponseWriter, r *http.Request, p *principal) error {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opt.Hostname, AccountName: p.acct.Address.String(),
		Period: totpPeriod, SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return err
	}
	if err := s.auth.SetTOTP(r.Context(), p.acct.ID, key.Secret()); err != nil {
		if errors.Is(err, directory.ErrExists) {
			return apiErr(http.StatusConflict, "totp_enabled", "TOTP is already enabled; disable it first")
		}
		return err
	}
	s.writeJSON(w, http.StatusCreated, totpEnrolment{Secret: key.Secret(), OTPAuthURL: key.URL()})
	return nil
}

type totpCode struct {
	Code string `json:"code"`
}

// apiTOTPConfirm enables the pending secret once a code from it is shown
// (POST /api/v1/me/totp/confirm).
func (s *Server) apiTOTPConfirm(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req totpCode
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st, err := s.auth.TOTP(r.Context(), p.acct.ID)
	if errors.Is(err, directory.ErrNotFound) || err == nil && st.Enabled {
		return apiErr(http.StatusConflict, "totp_not_pending", "start enrolment first (POST /api/v1/me/totp)")
	}
	if err != nil {
		return err
	}
	step, ok := totpStep(st.Secret, req.Code, s.now())
	if !ok {
		return apiErr(http.StatusBadRequest, "totp_invalid", "wrong code")
	}
	if err := s.auth.EnableTOTP(r.Context(), p.acct.ID, step); err != nil {
		return err
	}
	s.scoped(r, p).Record(r.Context(), "totp.enable", p.acct.Address.Domain, p.acct.Address.String(), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type passwordConfirm struct {
	CurrentPassword string `json:"current_password"`
}

// apiTOTPDisable removes the second factor after the password is confirmed
// (POST /api/v1/me/totp/disable).
func (s *Server) apiTOTPDisable(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req passwordConfirm
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := s.confirmPassword(r, p, req.CurrentPassword); err != nil {
		return err
	}
	if err := s.auth.DeleteTOTP(r.Context(), p.acct.ID); err != nil {
		return err
	}
	s.scoped(r, p).Record(r.Context(), "totp.disable", p.acct.Address.Domain, p.acct.Address.String(), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// confirmPassword re-checks the caller's password for a sensitive change, under the
// account's login rate limit.
func (s *Server) confirmPassword(r *http.Request, p *principal, pw string) error {
	key := p.acct.Address.Key()
	if blocked, after := s.userLim.blocked(key); blocked {
		return rateLimited(after)
	}
	if _, err := s.dir.Authenticate(r.Context(), p.acct.Address.String(), pw); err != nil {
		if errors.Is(err, directory.ErrAuthFailed) {
			s.userLim.allow(key)
			return apiErr(http.StatusForbidden, "wrong_password", "the current password is wrong")
		}
		return err
	}
	return nil
}

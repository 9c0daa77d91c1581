/* Sign in: the OAuth2 password form of /api/v1/auth/token. Reps and engineers are refused
 * here (the API would refuse their calls anyway): they work in the mobile app. */
(function () {
  "use strict";
  const START = { backoffice: "/console/inbox", manager: "/console/board", admin: "/console/inbox" };
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");

  function fail(text) {
    error.textContent = text;
    error.hidden = false;
    document.getElementById("password").select();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const body = new URLSearchParams();
    body.set("username", document.getElementById("username").value.trim());
    body.set("password", document.getElementById("password").value);
    let token;
    try {
      token = await FS.api("POST", "/api/v1/auth/token", body, {
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        noRedirect: true,
      });
    } catch (err) {
      fail(err.status === 401 ? "Wrong user or password." : err.explain("Sign-in"));
      return;
    }
    if (!FS.CONSOLE_ROLES.includes(token.role)) {
      FS.setSession(null);
      fail(
        `You are signed up as ${token.role === "engineer" ? "an" : "a"} ${token.role}: the console ` +
          "is for the back office, managers and admins. Reps and engineers work in the mobile app."
      );
      return;
    }
    FS.setSession({ token: token.access_token, role: token.role });
    try {
      const me = await FS.api("GET", "/api/v1/me");
      FS.setSession({ token: token.access_token, role: me.role, user_id: me.id, name: me.name });
    } catch (err) {
      fail(err.explain("Sign-in"));
      return;
    }
    const next = new URLSearchParams(location.search).get("next");
    const safe = next && next.startsWith("/console/") && !next.startsWith("/console/login");
    location.assign(safe ? next : START[token.role]);
  });
})();

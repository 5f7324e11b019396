# Coder template fragment: a Kubernetes workspace whose image has dind-init as
# ENTRYPOINT (examples/devpod/Dockerfile). Merge into your template's main.tf; it
# assumes the usual `coder_workspace.me`, `coder_workspace_owner.me` and
# `coder_agent.main` blocks and a `namespace` variable.

resource "kubernetes_persistent_volume_claim" "home" {
  metadata {
    name      = "coder-${data.coder_workspace.me.id}-home"
    namespace = var.namespace
  }
  wait_until_bound = false
  spec {
    access_modes = ["ReadWriteOnce"]
    resources {
      requests = {
        storage = "60Gi"
      }
    }
  }
}

resource "kubernetes_pod" "main" {
  count = data.coder_workspace.me.start_count
  metadata {
    name      = "coder-${data.coder_workspace_owner.me.name}-${data.coder_workspace.me.name}"
    namespace = var.namespace
  }
  spec {
    # Must exceed DIND_STOP_TIMEOUT so dind-init can stop dockerd cleanly.
    termination_grace_period_seconds = 30

    container {
      name  = "dev"
      image = "registry.example.com/devpod:latest"
      # ENTRYPOINT is dind-init; it runs the agent as DIND_USER once Docker is up.
      args = ["sh", "-c", coder_agent.main.init_script]

      security_context {
        privileged = true
      }

      env {
        name  = "CODER_AGENT_TOKEN"
        value = coder_agent.main.token
      }
      env {
        name  = "DIND_USER"
        value = "coder"
      }
      env {
        name  = "DIND_DATA_ROOT"
        value = "/home/coder/.docker-data"
      }
      env {
        name  = "DIND_STOP_TIMEOUT"
        value = "25"
      }

      startup_probe {
        exec {
          command = ["dind-init", "status"]
        }
        period_seconds    = 2
        failure_threshold = 60
      }
      readiness_probe {
        exec {
          command = ["dind-init", "status"]
        }
        period_seconds    = 10
        timeout_seconds   = 5
        failure_threshold = 3
      }

      volume_mount {
        mount_path = "/home/coder"
        name       = "home"
      }
    }

    volume {
      name = "home"
      persistent_volume_claim {
        claim_name = kubernetes_persistent_volume_claim.home.metadata[0].name
      }
    }
  }
}

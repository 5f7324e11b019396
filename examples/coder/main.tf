# Coder template: a Kubernetes workspace with Docker-in-Docker, dind-init as PID 1.
# The structure of Coder's own Kubernetes template (examples/templates/kubernetes in
# coder/coder): a PVC for /home/coder and a one-replica Deployment. What differs,
# each marked "dind-init:" below: the image (examples/workspace-image/Dockerfile),
# `args` instead of `command` so the image's ENTRYPOINT stays dind-init, a
# privileged container running as root with no fsGroup, the DIND_* settings, the
# grace period and the `dind-init status` probes.
#
#   coder templates push dind --directory examples/coder --variable namespace=coder-workspaces
#
# The namespace must allow privileged pods (Pod Security Admission):
#   kubectl label namespace coder-workspaces pod-security.kubernetes.io/enforce=privileged

terraform {
  required_providers {
    coder = {
      source = "coder/coder"
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
  }
}

provider "coder" {
}

variable "use_kubeconfig" {
  type        = bool
  description = <<-EOF
  Use host kubeconfig? (true/false)

  Set this to false if the Coder host is itself running as a Pod on the same
  Kubernetes cluster as you are deploying workspaces to.

  Set this to true if the Coder host is running outside the Kubernetes cluster
  for workspaces.  A valid "~/.kube/config" must be present on the Coder host.
  EOF
  default     = false
}

variable "namespace" {
  type        = string
  description = "The Kubernetes namespace to create workspaces in. It must exist and carry the label pod-security.kubernetes.io/enforce=privileged: the workspace pod is privileged (dockerd needs mounts, cgroups and namespaces)."
}

variable "image" {
  type        = string
  description = "The workspace image: built from examples/workspace-image/Dockerfile (ENTRYPOINT dind-init, Docker, curl for the agent, user coder)."
  default     = "registry.example.com/workspace:latest"
}

data "coder_parameter" "cpu" {
  name         = "cpu"
  display_name = "CPU"
  description  = "The number of CPU cores"
  default      = "2"
  icon         = "/icon/memory.svg"
  mutable      = true
  option {
    name  = "2 Cores"
    value = "2"
  }
  option {
    name  = "4 Cores"
    value = "4"
  }
  option {
    name  = "8 Cores"
    value = "8"
  }
}

data "coder_parameter" "memory" {
  name         = "memory"
  display_name = "Memory"
  description  = "The amount of memory in GB"
  default      = "4"
  icon         = "/icon/memory.svg"
  mutable      = true
  option {
    name  = "4 GB"
    value = "4"
  }
  option {
    name  = "8 GB"
    value = "8"
  }
  option {
    name  = "16 GB"
    value = "16"
  }
}

# dind-init: Docker's images and build cache live on this disk, so it is bigger
# than a plain home's.
data "coder_parameter" "home_disk_size" {
  name         = "home_disk_size"
  display_name = "Home disk size"
  description  = "The size of the home disk in GB (it also holds Docker's images, in ~/.docker-data)"
  default      = "60"
  type         = "number"
  icon         = "/emojis/1f4be.png"
  mutable      = false
  validation {
    min = 10
    max = 99999
  }
}

provider "kubernetes" {
  # Authenticate via ~/.kube/config or a Coder-specific ServiceAccount, depending on admin preferences
  config_path = var.use_kubeconfig == true ? "~/.kube/config" : null
}

data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

resource "coder_agent" "main" {
  os   = "linux"
  arch = "amd64"
  # Runs as coder (DIND_USER), after dind-init has started Docker.
  startup_script = <<-EOT
    set -e
    docker version --format 'Docker {{.Server.Version}} is ready'
  EOT

  metadata {
    display_name = "Docker"
    key          = "0_docker"
    script       = "dind-init status"
    interval     = 30
    timeout      = 5
  }

  metadata {
    display_name = "Home Disk"
    key          = "1_home_disk"
    script       = "coder stat disk --path $${HOME}"
    interval     = 60
    timeout      = 1
  }
}

resource "kubernetes_persistent_volume_claim" "home" {
  metadata {
    # Names use the workspace id, a lowercase UUID, as Coder's template does:
    # Kubernetes names must be lowercase, and Coder user and workspace names may
    # contain capitals. Build a name from them only through lower().
    name      = "coder-${data.coder_workspace.me.id}-home"
    namespace = var.namespace
    labels = {
      "app.kubernetes.io/name"     = "coder-pvc"
      "app.kubernetes.io/instance" = "coder-pvc-${data.coder_workspace.me.id}"
      "app.kubernetes.io/part-of"  = "coder"
      // Coder-specific labels.
      "com.coder.resource"       = "true"
      "com.coder.workspace.id"   = data.coder_workspace.me.id
      "com.coder.workspace.name" = data.coder_workspace.me.name
      "com.coder.user.id"        = data.coder_workspace_owner.me.id
      "com.coder.user.username"  = data.coder_workspace_owner.me.name
    }
    annotations = {
      "com.coder.user.email" = data.coder_workspace_owner.me.email
    }
  }
  wait_until_bound = false
  spec {
    access_modes = ["ReadWriteOnce"]
    resources {
      requests = {
        storage = "${data.coder_parameter.home_disk_size.value}Gi"
      }
    }
  }
}

resource "kubernetes_deployment" "main" {
  count = data.coder_workspace.me.start_count
  depends_on = [
    kubernetes_persistent_volume_claim.home
  ]
  wait_for_rollout = false
  metadata {
    name      = "coder-${data.coder_workspace.me.id}"
    namespace = var.namespace
    labels = {
      "app.kubernetes.io/name"     = "coder-workspace"
      "app.kubernetes.io/instance" = "coder-workspace-${data.coder_workspace.me.id}"
      "app.kubernetes.io/part-of"  = "coder"
      "com.coder.resource"         = "true"
      "com.coder.workspace.id"     = data.coder_workspace.me.id
      "com.coder.workspace.name"   = data.coder_workspace.me.name
      "com.coder.user.id"          = data.coder_workspace_owner.me.id
      "com.coder.user.username"    = data.coder_workspace_owner.me.name
    }
    annotations = {
      "com.coder.user.email" = data.coder_workspace_owner.me.email
    }
  }

  spec {
    replicas = 1
    selector {
      match_labels = {
        "app.kubernetes.io/name"     = "coder-workspace"
        "app.kubernetes.io/instance" = "coder-workspace-${data.coder_workspace.me.id}"
        "app.kubernetes.io/part-of"  = "coder"
        "com.coder.resource"         = "true"
        "com.coder.workspace.id"     = data.coder_workspace.me.id
        "com.coder.workspace.name"   = data.coder_workspace.me.name
        "com.coder.user.id"          = data.coder_workspace_owner.me.id
        "com.coder.user.username"    = data.coder_workspace_owner.me.name
      }
    }
    # The old pod must be gone (dockerd stopped, the data root's lock released)
    # before the new one mounts the ReadWriteOnce volume.
    strategy {
      type = "Recreate"
    }

    template {
      metadata {
        labels = {
          "app.kubernetes.io/name"     = "coder-workspace"
          "app.kubernetes.io/instance" = "coder-workspace-${data.coder_workspace.me.id}"
          "app.kubernetes.io/part-of"  = "coder"
          "com.coder.resource"         = "true"
          "com.coder.workspace.id"     = data.coder_workspace.me.id
          "com.coder.workspace.name"   = data.coder_workspace.me.name
          "com.coder.user.id"          = data.coder_workspace_owner.me.id
          "com.coder.user.username"    = data.coder_workspace_owner.me.name
        }
      }
      spec {
        # dind-init: no pod security_context with run_as_user = 1000 / fs_group
        # (Coder's template has both). dind-init must start as root, and fs_group
        # makes the kubelet chgrp/chmod every file on the volume at each start,
        # Docker's image layers in ~/.docker-data included.

        # dind-init: must exceed DIND_STOP_TIMEOUT (25) so the session, dockerd
        # and containerd stop in order before the kubelet's SIGKILL.
        termination_grace_period_seconds = 30

        container {
          name              = "dev"
          image             = var.image
          image_pull_policy = "Always"
          # dind-init: `args`, not `command`. `command` would replace the image's
          # ENTRYPOINT (dind-init): no Docker. dind-init runs the agent's bootstrap
          # script as DIND_USER once Docker is up; the script downloads the agent
          # with curl, wget or busybox, so the image must have one of them.
          args = ["sh", "-c", coder_agent.main.init_script]
          security_context {
            privileged      = true
            run_as_user     = 0
            run_as_non_root = false
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
          resources {
            requests = {
              "cpu"    = "250m"
              "memory" = "512Mi"
            }
            limits = {
              "cpu"    = "${data.coder_parameter.cpu.value}"
              "memory" = "${data.coder_parameter.memory.value}Gi"
            }
          }
          # dind-init: started once it has finished starting Docker, ready or not
          # (when Docker fails the workspace keeps running, with a banner: no
          # restart loop); 150 x 2 s covers its longest start. Ready while
          # dockerd answers and a container really mounted.
          startup_probe {
            exec {
              command = ["dind-init", "status", "--settled"]
            }
            period_seconds    = 2
            timeout_seconds   = 5
            failure_threshold = 150
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
            read_only  = false
          }
        }

        volume {
          name = "home"
          persistent_volume_claim {
            claim_name = kubernetes_persistent_volume_claim.home.metadata.0.name
            read_only  = false
          }
        }

        affinity {
          // This affinity attempts to spread out all workspace pods evenly across
          // nodes.
          pod_anti_affinity {
            preferred_during_scheduling_ignored_during_execution {
              weight = 1
              pod_affinity_term {
                topology_key = "kubernetes.io/hostname"
                label_selector {
                  match_expressions {
                    key      = "app.kubernetes.io/name"
                    operator = "In"
                    values   = ["coder-workspace"]
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

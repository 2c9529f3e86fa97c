// Spike: cost of one stop at a system call, seccomp user notification vs ptrace.
// A child makes N getppid() calls; each is stopped and let go by the parent.
#define _GNU_SOURCE
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/audit.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static int install(unsigned ret, int flags){
  struct sock_filter f[]={
    BPF_STMT(BPF_LD|BPF_W|BPF_ABS,offsetof(struct seccomp_data,nr)),
    BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K,SYS_getppid,0,1),
    BPF_STMT(BPF_RET|BPF_K,ret),
    BPF_STMT(BPF_RET|BPF_K,SECCOMP_RET_ALLOW)};
  struct sock_fprog p={4,f};
  prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0);
  return syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,flags,&p);
}
int main(int argc,char**argv){
  int n=argc>1?atoi(argv[1]):20000;
  // 0: plain calls
  double t=now(); for(int i=0;i<n;i++) syscall(SYS_getppid); double plain=(now()-t)/n*1e6;
  // 1: seccomp user notification, CONTINUE
  int sv[2]; pipe(sv);
  pid_t c=fork();
  if(!c){ int fd=install(SECCOMP_RET_USER_NOTIF,SECCOMP_FILTER_FLAG_NEW_LISTENER);
    if(fd<0){perror("seccomp");_exit(1);} 
    // hand fd number over the pipe (write is not filtered)
    write(sv[1],&fd,sizeof fd);
    for(int i=0;i<n;i++) syscall(SYS_getppid); _exit(0);}
  int cfd; read(sv[0],&cfd,sizeof cfd);
  int pidfd=syscall(SYS_pidfd_open,c,0); int fd=syscall(SYS_pidfd_getfd,pidfd,cfd,0);
  if(fd<0){perror("pidfd_getfd");return 1;}
  if(argc>2){ if(ioctl(fd,SECCOMP_IOCTL_NOTIF_SET_FLAGS,(unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)) perror("sync"); }
  t=now();
  for(int i=0;i<n;i++){ struct seccomp_notif r; memset(&r,0,sizeof r);
    if(ioctl(fd,SECCOMP_IOCTL_NOTIF_RECV,&r)){perror("recv");return 1;}
    struct seccomp_notif_resp s={.id=r.id,.flags=SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    if(ioctl(fd,SECCOMP_IOCTL_NOTIF_SEND,&s)){perror("send");return 1;} }
  waitpid(c,0,0); double notif=(now()-t)/n*1e6;
  // 2: ptrace, SECCOMP_RET_TRACE, entry stop + exit stop (result visible)
  c=fork();
  if(!c){ raise(SIGSTOP); install(SECCOMP_RET_TRACE,0); for(int i=0;i<n;i++) syscall(SYS_getppid); _exit(0);}
  waitpid(c,0,WUNTRACED);
  ptrace(PTRACE_SEIZE,c,0,PTRACE_O_TRACESECCOMP|PTRACE_O_TRACESYSGOOD|PTRACE_O_EXITKILL);
  kill(c,SIGCONT);
  int st; long stops=0; t=now();
  for(;;){ if(waitpid(c,&st,__WALL)<0) break; if(WIFEXITED(st)) break;
    int ev=st>>8;
    if(ev==(SIGTRAP|(PTRACE_EVENT_SECCOMP<<8))){ stops++; ptrace(PTRACE_SYSCALL,c,0,0);} // on to exit stop
    else if(WSTOPSIG(st)==(SIGTRAP|0x80)){ ptrace(PTRACE_CONT,c,0,0);} // exit stop: result in regs
    else ptrace(PTRACE_CONT,c,0,(WSTOPSIG(st)==SIGSTOP||WSTOPSIG(st)==SIGCONT)?0:WSTOPSIG(st));
  }
  double tr=(now()-t)/(stops?stops:1)*1e6;
  printf("per call: plain %.2f us, seccomp notify %.2f us, ptrace entry+exit %.2f us (%ld stops)\n",plain,notif,tr,stops);
}

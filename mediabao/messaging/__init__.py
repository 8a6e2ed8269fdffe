"""消息宝: template and customer-service messages, bulk send jobs, SOP schedules."""
